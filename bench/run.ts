/**
 * `npm run bench` — nine figure groups, each a ratio measured within one run (see bench/README.md).
 *
 *   npm run bench                     the full run (five to seven minutes on 2 cores)
 *   npm run bench -- --quick          a smoke run (well under a minute; CI runs it)
 *   npm run bench -- --only=1,3       some figures only
 *   npm run bench -- --json=FILE      also write the numbers as JSON (default .bench/last.json)
 *   npm run bench -- --help           the options; an unknown one prints them and exits 2
 *
 * Always exits 0 when every figure ran, whether or not targets are met (MISS lines say by how
 * much); exits 1 only when a figure could not run for another reason than a missing Redis.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './bundle.ts';
import { chainFigure } from './chain.ts';
import { coldFigure } from './cold.ts';
import { costFigure } from './cost.ts';
import { httpFigure } from './http.ts';
import { jobsFigure } from './jobs.ts';
import { pushFigure } from './push.ts';
import { redisTimeFigure } from './redis-time.ts';
import { roundTripFigure, SkipFigure } from './roundtrips.ts';
import { type FigureResult, fmt, targetLine } from './stats.ts';
import { verifyFigure } from './verify.ts';

export interface RunOptions {
  readonly quick: boolean;
  readonly only?: readonly number[];
  /** Print as figures complete (the CLI); the test keeps quiet. */
  readonly log?: (line: string) => void;
}

export interface FigureOutcome {
  readonly id: number;
  readonly title: string;
  readonly status: 'ok' | 'skipped' | 'failed';
  readonly ms: number;
  readonly result?: FigureResult;
  readonly reason?: string;
}

export interface RunReport {
  readonly date: string;
  readonly machine: { cpus: number; model: string; node: string; platform: string; loadavg: number[] };
  readonly quick: boolean;
  readonly ms: number;
  readonly figures: FigureOutcome[];
}

/** Sizes of every loop, per mode. The full run keeps at least 20 processes per cold-start row. */
export function plan(quick: boolean) {
  return quick
    ? {
        verify: { rounds: 5, sliceMs: 40, maxOps: 200_000, warmupMs: 100 },
        chain: { rounds: 5, sliceMs: 40, maxOps: 100_000, warmupMs: 100 },
        cold: { processes: 3, only: ['health', 'get-commands'], upstash: ['get-commands'], budgetMs: 15_000 },
        roundTrips: { calls: 5 },
        http: { rounds: 1, seconds: 1, warmupSeconds: 0.5, connections: 50 },
        jobs: { sizes: [500, 2_000], creates: 1, reads: 5, polls: 5, concurrency: 32 },
        push: { agents: 100, commands: 50, jobAgents: 1_000 },
        redisTime: {
          calls: 100,
          heavyCalls: 2,
          scales: [10_000, 100_000],
          note: 'Quick run: the slowest scripts at 10,000 and 100,000 targets; the 1,000,000 row is in the full run only.',
        },
      }
    : {
        // Many short interleaved slices: a burst of load from elsewhere hits few of them.
        verify: { rounds: 15, sliceMs: 100, maxOps: 2_000_000, warmupMs: 300 },
        chain: { rounds: 20, sliceMs: 60, maxOps: 1_000_000, warmupMs: 300 },
        cold: { processes: 20, upstash: ['get-commands', 'enqueue-command'], budgetMs: 120_000 },
        roundTrips: { calls: 40 },
        http: { rounds: 3, seconds: 5, warmupSeconds: 1, connections: 50 },
        jobs: { sizes: [10_000, 100_000], creates: 3, reads: 40, polls: 40, concurrency: 64 },
        redisTime: { calls: 2_000, heavyCalls: 3, scales: [100_000, 1_000_000] },
        push: { agents: 1_000, commands: 300, jobAgents: 10_000 },
      };
}

export async function runBench(options: RunOptions): Promise<RunReport> {
  const log = options.log ?? (() => {});
  const p = plan(options.quick);
  let roundTrips: Record<string, number> | undefined;
  const figures: { id: number; title: string; run: () => Promise<FigureResult> }[] = [
    { id: 1, title: 'verify limit', run: () => verifyFigure(p.verify) },
    { id: 2, title: 'handler chain', run: () => chainFigure(p.chain) },
    { id: 3, title: 'cold start', run: () => coldFigure(p.cold) },
    {
      id: 4,
      title: 'round trips',
      run: async () => {
        const result = await roundTripFigure(p.roundTrips);
        roundTrips = result.numbers;
        return result;
      },
    },
    { id: 5, title: 'HTTP', run: () => httpFigure(p.http) },
    {
      id: 6,
      title: 'cost model',
      run: async () => {
        if (roundTrips === undefined) throw new SkipFigure('the cost model needs figure 4 of the same run');
        return costFigure(roundTrips);
      },
    },
    { id: 7, title: 'jobs at fleet scale', run: () => jobsFigure(p.jobs) },
    { id: 8, title: 'Redis time per request', run: () => redisTimeFigure(p.redisTime) },
    { id: 9, title: 'push channel', run: () => pushFigure(p.push) },
  ];
  const started = performance.now();
  const cpus = os.cpus();
  const report: RunReport = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.availableParallelism(),
      model: cpus[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    },
    quick: options.quick,
    ms: 0,
    figures: [],
  };
  const m = report.machine;
  log(`biz-service bench${options.quick ? ' --quick' : ''}: ${report.date}`);
  log(`machine: ${m.cpus} x ${m.model}, ${m.platform}, node ${m.node}, load average ${m.loadavg.join(' ')}`);
  for (const figure of figures) {
    if (options.only && !options.only.includes(figure.id)) continue;
    const t0 = performance.now();
    try {
      const result = await figure.run();
      const ms = performance.now() - t0;
      report.figures.push({ id: figure.id, title: result.title, status: 'ok', ms, result });
      log(`\n== ${result.title}  [${fmt(ms / 1000, 1)} s]\n${result.text}`);
      for (const target of result.targets) log(targetLine(target));
    } catch (error) {
      const ms = performance.now() - t0;
      const skipped = error instanceof SkipFigure;
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      report.figures.push({ id: figure.id, title: figure.title, status: skipped ? 'skipped' : 'failed', ms, reason });
      log(`\n== ${figure.id}. ${figure.title}: ${skipped ? 'SKIP' : 'FAILED'}: ${skipped ? (error as Error).message : reason}`);
    }
  }
  const ms = performance.now() - started;
  const all = report.figures.flatMap((f) => f.result?.targets ?? []);
  log(`\n== Targets: ${all.filter((t) => t.met).length} met, ${all.filter((t) => !t.met).length} missed`);
  for (const target of all) log(targetLine(target));
  for (const f of report.figures.filter((f) => f.status !== 'ok')) log(`${f.status === 'skipped' ? 'SKIP' : 'FAIL'} [${f.id}] ${f.title}`);
  log(`\nbench finished in ${fmt(ms / 1000, 1)} s${options.quick ? ' (quick mode: few samples, figures are indicative only)' : ''}`);
  return { ...report, ms };
}

export const USAGE = `usage: npm run bench -- [--quick] [--only=N,N] [--json=FILE]

  --quick       a smoke run: few samples, figures indicative only (CI runs it)
  --only=N,N    only these figure groups (1 verify, 2 handler chain, 3 cold start, 4 round trips, 5 HTTP, 6 cost model,
                7 jobs at fleet scale, 8 Redis time per request, 9 push channel)
  --json=FILE   where to write the numbers as JSON (default .bench/last.json)
  -h, --help    this text`;

export interface BenchArgs {
  readonly quick: boolean;
  readonly only?: readonly number[];
  readonly json?: string;
}

/** Parses the command line; throws with a message for the user. */
export function parseBenchArgs(args: readonly string[]): BenchArgs | 'help' {
  let values: { quick?: boolean | undefined; only?: string | undefined; json?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { quick: { type: 'boolean' }, only: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error((error as Error).message);
  }
  if (values.help) return 'help';
  let only: number[] | undefined;
  if (values.only !== undefined) {
    only = values.only.split(',').map((item) => Number(item.trim()));
    if (only.length === 0 || only.some((n) => !Number.isInteger(n) || n < 1 || n > 9)) {
      throw new Error(`--only takes figure numbers from 1 to 9 separated by commas, got ${JSON.stringify(values.only)}`);
    }
  }
  if (values.json === '') throw new Error('--json needs a file name');
  return {
    quick: values.quick === true,
    ...(only === undefined ? {} : { only }),
    ...(values.json === undefined ? {} : { json: values.json }),
  };
}

/**
 * The handlers write their log line and EMF metrics line per request as in production (that
 * serialisation is part of what figure 2 measures); here they are dropped instead of flooding
 * the terminal with hundreds of thousands of JSON lines. The bench's own output is plain text.
 */
function dropHandlerLines(): { readonly count: () => number } {
  let dropped = 0;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8', 0, 2) : '';
      if (text.startsWith('{"')) {
        dropped += 1;
        const callback = rest.find((item) => typeof item === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
  return { count: () => dropped };
}

async function main(): Promise<void> {
  let args: BenchArgs | 'help';
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (args === 'help') {
    console.log(USAGE);
    return;
  }
  const handlerLines = dropHandlerLines();
  const report = await runBench({
    quick: args.quick,
    ...(args.only === undefined ? {} : { only: args.only }),
    log: (line) => console.log(line),
  });
  const out = args.json ?? path.join(ROOT, '.bench', 'last.json');
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`(${handlerLines.count()} handler log and metrics lines were written as in production and dropped, not printed)`);
  process.exitCode = report.figures.some((f) => f.status === 'failed') ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/run.ts')) await main();
