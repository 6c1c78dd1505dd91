/**
 * Figure 3, cold start: each function's production bundle (bench/bundle.ts), its size in bytes
 * and gzipped, what it is made of, and the whole-process time of a fresh `node` that imports
 * the bundle and answers one event, as a ratio to a fresh `node -e ''`. Processes run one at
 * a time, interleaved (empty, then each function, in an order that rotates per iteration),
 * all with the same environment: the Lambda one the stack sets (AWS_LAMBDA_FUNCTION_NAME, so
 * production rules apply; NODE_OPTIONS=--enable-source-maps; a 32+ byte JWT_SECRET_KEY).
 * Each child also says how long its import() took and how long the first answer after it, and
 * a few functions are started on the Upstash store too (through the local bridge), because the
 * in-memory store hides what a Redis function's first request pays in Lambda: its first fetch
 * loads undici, and the store's client and scripts are made.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { type Bundle, buildBundle, functionNames, kbOf, OUT_DIR, ROOT, stackBundling } from './bundle.ts';
import { contextForChild, contextInChild } from '../dev/lambda-context.ts';
import { AGENT_ID, BENCH_ENV, type EventTemplate, eventFrom, signToken, template } from './fixtures.ts';
import { createRedisClient } from '../lib/store/upstash.ts';
import { cleanUp } from './roundtrips.ts';
import { atMost, type FigureResult, fmt, kb, quartiles, spread, table, type TargetResult } from './stats.ts';

export interface ColdOptions {
  /** Processes per function (and for the empty node), at least 20 in the full run. */
  readonly processes: number;
  /** Functions to start; undefined: all. Every function is still bundled and sized. */
  readonly only?: readonly string[];
  /** Upper bound on the whole figure's process time. */
  readonly budgetMs: number;
  /**
   * Functions also started on the Upstash store, through the local bridge, when a Redis answers
   * (rows "name (Upstash)", no target of their own); none when undefined.
   */
  readonly upstash?: readonly string[];
}

/** One event per function that its handler answers through its store in a fresh process (the store empty). */
export async function eventFor(name: string): Promise<EventTemplate> {
  const agent = await signToken();
  const operator = await signToken({ sub: 'operator-1', scope: 'admin:commands admin:config admin:revoke' });
  const groupOperator = await signToken({ sub: 'operator-1', scope: 'admin:groups' });
  const jobOperator = await signToken({ sub: 'operator-1', scope: 'admin:jobs' });
  const commandId = '7d3f1c2e-0b7a-4f43-9a57-3f2b8f0c1a11';
  const jobId = '5d2c8a71-3f4e-4b6a-9c0d-8e7f6a5b4c3d';
  switch (name) {
    case 'health':
      return template('GET', '/health');
    case 'get-commands':
      return template('GET', '/api/commands', { token: agent });
    case 'get-config':
      return template('GET', '/api/config', { token: agent });
    case 'post-results':
      return template('POST', '/api/results', {
        token: agent,
        body: JSON.stringify({ command_id: commandId, status: 'completed', result: {} }),
      });
    case 'token-info':
      return template('GET', '/api/token-info', { token: agent });
    case 'whoami':
      return template('GET', '/api/whoami', { token: agent });
    case 'enqueue-command':
      return template('POST', `/api/agents/${AGENT_ID}/commands`, {
        routeKey: 'POST /api/agents/{agentId}/commands',
        token: operator,
        pathParameters: { agentId: AGENT_ID },
        body: JSON.stringify({ command: 'collect_metrics', args: { interval_seconds: 30 } }),
      });
    case 'get-command':
      return template('GET', `/api/agents/${AGENT_ID}/commands/${commandId}`, {
        routeKey: 'GET /api/agents/{agentId}/commands/{commandId}',
        token: operator,
        pathParameters: { agentId: AGENT_ID, commandId },
      });
    case 'list-commands':
      return template('GET', `/api/agents/${AGENT_ID}/commands`, {
        routeKey: 'GET /api/agents/{agentId}/commands',
        token: operator,
        pathParameters: { agentId: AGENT_ID },
      });
    case 'cancel-command':
      return template('POST', `/api/agents/${AGENT_ID}/commands/${commandId}/cancel`, {
        routeKey: 'POST /api/agents/{agentId}/commands/{commandId}/cancel',
        token: operator,
        pathParameters: { agentId: AGENT_ID, commandId },
        body: JSON.stringify({ reason: 'bench' }),
      });
    case 'ready':
      return template('GET', '/ready');
    case 'put-config':
      return template('PUT', `/api/agents/${AGENT_ID}/config`, {
        routeKey: 'PUT /api/agents/{agentId}/config',
        token: operator,
        pathParameters: { agentId: AGENT_ID },
        body: JSON.stringify({ poll_interval_seconds: 15 }),
      });
    case 'post-revocations':
      return template('POST', '/api/revocations', { token: operator, body: JSON.stringify({ sub: 'agent-gone' }) });
    case 'put-group-member':
    case 'delete-group-member':
      return template(name === 'put-group-member' ? 'PUT' : 'DELETE', `/api/groups/web-eu/agents/${AGENT_ID}`, {
        routeKey: `${name === 'put-group-member' ? 'PUT' : 'DELETE'} /api/groups/{group}/agents/{agentId}`,
        token: groupOperator,
        pathParameters: { group: 'web-eu', agentId: AGENT_ID },
      });
    case 'get-group-members':
      return template('GET', '/api/groups/web-eu/agents', {
        routeKey: 'GET /api/groups/{group}/agents',
        token: groupOperator,
        pathParameters: { group: 'web-eu' },
      });
    case 'get-agent-groups':
      return template('GET', `/api/agents/${AGENT_ID}/groups`, {
        routeKey: 'GET /api/agents/{agentId}/groups',
        token: groupOperator,
        pathParameters: { agentId: AGENT_ID },
      });
    case 'create-job':
      return template('POST', '/api/jobs', {
        token: jobOperator,
        body: JSON.stringify({ command: 'collect_metrics', args: { interval_seconds: 30 }, targets: { agents: [AGENT_ID] } }),
      });
    case 'list-jobs':
      return template('GET', '/api/jobs', { token: jobOperator, query: { limit: '20' } });
    case 'get-job':
    case 'list-job-executions':
      return template('GET', `/api/jobs/${jobId}${name === 'get-job' ? '' : '/executions'}`, {
        routeKey: `GET /api/jobs/{jobId}${name === 'get-job' ? '' : '/executions'}`,
        token: jobOperator,
        pathParameters: { jobId },
      });
    case 'cancel-job':
      return template('POST', `/api/jobs/${jobId}/cancel`, {
        routeKey: 'POST /api/jobs/{jobId}/cancel',
        token: jobOperator,
        pathParameters: { jobId },
        body: JSON.stringify({ reason: 'bench' }),
      });
    default:
      return template('GET', '/nowhere', { routeKey: '$default' });
  }
}

/** The child: imports the bundle, answers one event with a Lambda-like context, exits with the status in its code. */
export const CHILD = `
const started = performance.now();
const { handler } = await import(process.env.BENCH_BUNDLE);
const imported = performance.now();
${contextInChild('BENCH_CONTEXT')}
const result = await handler(JSON.parse(process.env.BENCH_EVENT), context);
const answered = performance.now();
const cpu = process.cpuUsage();
process.stdout.write(JSON.stringify({ status: result && result.statusCode, ms: answered - started, importMs: imported - started, cpu: (cpu.user + cpu.system) / 1000 }));
process.exit(0);
`;

interface Sample {
  readonly ms: number;
  readonly status?: number;
  /** Inside the child: from before its import() of the bundle to the handler's answer. */
  readonly handlerMs?: number;
  /** Inside the child: the import() alone (the bundle's top level, and what it starts then). */
  readonly importMs?: number;
  /** The child's own CPU time (user + system, all threads) when it answered. */
  readonly cpuMs?: number;
}

/** The empty node's CPU time: the same as `-e ''` plus one write. */
const EMPTY_CPU = `const c = process.cpuUsage(); process.stdout.write(JSON.stringify({ cpu: (c.user + c.system) / 1000 }));`;

export function lambdaEnv(functionName: string): Record<string, string> {
  return {
    ...BENCH_ENV,
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_REGION: 'eu-west-1',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    NODE_OPTIONS: '--enable-source-maps',
    POWERTOOLS_SERVICE_NAME: 'biz-service',
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
  };
}

/** Whole-process time of one child: spawn until exit. */
function runProcess(args: readonly string[], env: Record<string, string>, timeoutMs = 10_000): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`child exited with ${code}: ${err.slice(0, 500)}`));
      if (out === '') return resolve({ ms });
      // The handler's own log lines may precede the result: take the last JSON object.
      const at = Math.max(out.lastIndexOf('{"status"'), out.lastIndexOf('{"cpu"'));
      const parsed = JSON.parse(out.slice(at)) as { status?: number; ms?: number; importMs?: number; cpu?: number };
      resolve({
        ms,
        ...(parsed.status !== undefined ? { status: parsed.status } : {}),
        ...(parsed.ms !== undefined ? { handlerMs: parsed.ms } : {}),
        ...(parsed.importMs !== undefined ? { importMs: parsed.importMs } : {}),
        ...(parsed.cpu !== undefined ? { cpuMs: parsed.cpu } : {}),
      });
    });
  });
}

interface UpstashTarget {
  /** USE_REDIS and the bridge's URL and token, a key prefix of this run's own. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The local Upstash bridge in front of REDIS_HOST:REDIS_PORT (as figure 4), for the rows that
 * answer on the Upstash store: what a Redis function pays in Lambda and the memory store hides
 * (undici, loaded by the first fetch; the client and its scripts). Throws when Redis does not answer.
 */
async function upstashTarget(): Promise<UpstashTarget> {
  const { startUpstashBridge } = await import('../dev/upstash-bridge.ts');
  const bridge = await startUpstashBridge({
    redisHost: process.env.REDIS_HOST ?? '127.0.0.1',
    redisPort: Number(process.env.REDIS_PORT) || 6379,
  });
  const prefix = `bench:cold-${process.pid}-${randomBytes(3).toString('hex')}:`;
  const client = createRedisClient({ upstashUrl: bridge.url, upstashToken: bridge.token, redisTimeoutMs: 2000 });
  try {
    await client.get(`${prefix}probe`);
  } catch (error) {
    await bridge.close();
    throw error;
  }
  return {
    env: { USE_REDIS: 'true', UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: bridge.token, REDIS_KEY_PREFIX: prefix },
    close: async () => {
      await cleanUp(client, prefix).catch(() => 0);
      await bridge.close();
    },
  };
}

/** The row of a function started on the Upstash store. */
const onUpstash = (name: string) => `${name} (Upstash)`;

export async function coldFigure(options: ColdOptions): Promise<FigureResult> {
  const { options: bundling, source } = await stackBundling();
  const names = await functionNames();
  const bundles: Bundle[] = [];
  for (const name of names) bundles.push(await buildBundle(bundling, name));

  const started = names.filter((name) => options.only === undefined || options.only.includes(name));
  const wanted = (options.upstash ?? []).filter((name) => names.includes(name));
  let upstash: UpstashTarget | undefined;
  let upstashNote = '';
  if (wanted.length > 0) {
    try {
      upstash = await upstashTarget();
    } catch (error) {
      upstashNote = `Upstash rows skipped: Redis does not answer through the bridge (${(error as Error).message})`;
    }
  }
  try {
    const emptyEnv = lambdaEnv('bench-empty');
    const samples = new Map<string, Sample[]>();
    const runs: { key: string; args: string[]; env: Record<string, string> }[] = [
      { key: '(empty node)', args: ['-e', ''], env: emptyEnv },
      { key: '(empty node cpu)', args: ['-e', EMPTY_CPU], env: emptyEnv },
    ];
    const child = async (name: string, store: Record<string, string>) => {
      const bundle = bundles.find((b) => b.name === name) as Bundle;
      return {
        args: ['--input-type=module', '-e', CHILD],
        env: {
          ...lambdaEnv(`biz-service-${name}`),
          ...store,
          BENCH_BUNDLE: pathToFileURL(bundle.file).href,
          BENCH_EVENT: JSON.stringify(eventFrom(await eventFor(name))),
          BENCH_CONTEXT: contextForChild(`biz-service-${name}`, { requestId: 'cold-1', logStreamName: 'bench' }),
        },
      };
    };
    for (const name of started) runs.push({ key: name, ...(await child(name, {})) });
    if (upstash) for (const name of wanted) runs.push({ key: onUpstash(name), ...(await child(name, upstash.env)) });
    for (const run of runs) samples.set(run.key, []);
    // One warm-up of each (page cache, the node binary itself; Redis's script cache), not counted.
    for (const run of runs) await runProcess(run.args, run.env);
    const deadline = performance.now() + options.budgetMs;
    let iterations = 0;
    for (let i = 0; i < options.processes && performance.now() < deadline; i++) {
      for (let j = 0; j < runs.length; j++) {
        const run = runs[(i + j) % runs.length] as (typeof runs)[number];
        samples.get(run.key)?.push(await runProcess(run.args, run.env));
      }
      iterations += 1;
    }
    return report({ bundles, started, samples, iterations, source, upstashRows: upstash ? wanted : [], upstashNote });
  } finally {
    await upstash?.close();
  }
}

function report(run: {
  bundles: readonly Bundle[];
  started: readonly string[];
  samples: ReadonlyMap<string, readonly Sample[]>;
  iterations: number;
  source: string;
  upstashRows: readonly string[];
  upstashNote: string;
}): FigureResult {
  const { bundles, started, samples, iterations } = run;
  const empty = spread((samples.get('(empty node)') ?? []).map((s) => s.ms));
  const emptyQ = quartiles((samples.get('(empty node)') ?? []).map((s) => s.ms));
  const emptyCpu = spread((samples.get('(empty node cpu)') ?? []).map((s) => s.cpuMs ?? Number.NaN));
  const rows: string[][] = [];
  const numbers: Record<string, number> = { emptyNodeMs: empty.median, emptyNodeCpuMs: emptyCpu.median, iterations };
  const targets: TargetResult[] = [];
  const median = (series: readonly Sample[], pick: (s: Sample) => number | undefined) =>
    spread(series.map((s) => pick(s) ?? Number.NaN)).median;
  /** One table row and its numbers under `key` (the function's name, or with " (Upstash)"). */
  const row = (bundle: Bundle, key: string, sizes: boolean) => {
    const series = samples.get(key);
    const ms = series ? spread(series.map((s) => s.ms)) : undefined;
    const q = series ? quartiles(series.map((s) => s.ms)) : undefined;
    const status = series?.[0]?.status;
    const importMs = series ? median(series, (s) => s.importMs) : undefined;
    const answerMs = series
      ? median(series, (s) => (s.handlerMs === undefined || s.importMs === undefined ? undefined : s.handlerMs - s.importMs))
      : undefined;
    const cpu = series ? median(series, (s) => s.cpuMs) : undefined;
    rows.push([
      key,
      sizes ? kb(bundle.bytes) : '',
      sizes ? kb(bundle.gzipBytes) : '',
      ms ? `${fmt(ms.median, 1)} (IQR ${fmt(q?.q1 ?? 0, 1)}–${fmt(q?.q3 ?? 0, 1)})` : '-',
      ms ? `${fmt(ms.median / empty.median, 2)}x` : '-',
      importMs === undefined ? '-' : fmt(importMs, 1),
      answerMs === undefined ? '-' : fmt(answerMs, 1),
      cpu === undefined ? '-' : `${fmt(cpu, 1)} (${fmt(cpu / emptyCpu.median, 2)}x)`,
      status === undefined ? '-' : String(status),
    ]);
    const at = key === bundle.name ? bundle.name : `${bundle.name}|upstash`;
    if (sizes) {
      numbers[`${bundle.name}|bytes`] = bundle.bytes;
      numbers[`${bundle.name}|gzip`] = bundle.gzipBytes;
    }
    if (ms) {
      numbers[`${at}|ms`] = ms.median;
      numbers[`${at}|toEmpty`] = ms.median / empty.median;
      if (importMs !== undefined) numbers[`${at}|importMs`] = importMs;
      if (answerMs !== undefined) numbers[`${at}|answerMs`] = answerMs;
      if (cpu !== undefined) numbers[`${at}|cpuToEmpty`] = cpu / emptyCpu.median;
    }
  };
  for (const bundle of bundles) {
    row(bundle, bundle.name, true);
    if (bundle.name === 'health') targets.push(atMost('3', 'bundle size /health', bundle.bytes / 1024, 30, ' KB', 1));
    if (bundle.name === 'get-commands')
      targets.push(atMost('3', 'bundle size of a Redis function (get-commands)', bundle.bytes / 1024, 150, ' KB', 1));
  }
  for (const name of run.upstashRows) row(bundles.find((b) => b.name === name) as Bundle, onUpstash(name), false);
  const worstRedis = Math.max(...bundles.filter((b) => b.name !== 'health' && b.name !== 'fallback').map((b) => b.bytes));
  targets.push(atMost('3', 'largest Redis function bundle', worstRedis / 1024, 150, ' KB', 1));
  for (const name of ['health', 'get-commands']) {
    const value = numbers[`${name}|toEmpty`];
    if (value !== undefined) targets.push(atMost('3', `cold start ${name} / empty node`, value, 1.5, 'x'));
    const cpuValue = numbers[`${name}|cpuToEmpty`];
    if (cpuValue !== undefined) targets.push(atMost('3', `cold start ${name} / empty node, CPU time (cross-check)`, cpuValue, 1.5, 'x'));
  }
  const worstCold = Math.max(...started.map((name) => numbers[`${name}|toEmpty`] ?? 0));
  if (started.length > 2) targets.push(atMost('3', 'slowest cold start / empty node', worstCold, 1.5, 'x'));

  const parts = (bundle: Bundle | undefined) =>
    bundle
      ? `${bundle.name} bundle by package: ${[...bundle.composition]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 10)
          .map(([pkg, bytes]) => `${pkg} ${kbOf(bytes)}`)
          .join(', ')}`
      : '';
  const largest = [...bundles].sort((a, b) => b.bytes - a.bytes)[0];
  const text = [
    `bundling options from ${run.source}; bundles in ${path.relative(ROOT, OUT_DIR) || '.'}/<function>/`,
    table(
      [
        'function',
        'minified',
        'gzipped',
        'process ms median (IQR)',
        'vs empty',
        'import ms',
        '1st answer ms',
        'CPU ms (vs empty)',
        'status',
      ],
      [
        [
          "(empty node -e '')",
          '',
          '',
          `${fmt(empty.median, 1)} (IQR ${fmt(emptyQ.q1, 1)}–${fmt(emptyQ.q3, 1)})`,
          '1.00x',
          '',
          '',
          `${fmt(emptyCpu.median, 1)} (1.00x)`,
          '',
        ],
        ...rows,
      ],
    ),
    `${iterations} processes per row, interleaved; node ${process.version}. "vs empty" (whole-process wall time) is the target's figure;`,
    "CPU ms is the process's own user+system time when it answered (its getrusage): the same comparison, less disturbed by a loaded machine.",
    'import ms: inside the process, the import() of the bundle (its top level, and the runtime it starts making then);',
    '1st answer ms: the handler\'s first call after it. Rows without "(Upstash)" answer on the in-memory store, which loads no undici;',
    '"(Upstash)" rows answer through the local Upstash bridge (figure 4\'s) as a Redis function does in Lambda, whose first fetch loads undici.',
    ...(run.upstashNote ? [run.upstashNote] : []),
    luaLine(bundles),
    parts(bundles.find((b) => b.name === 'get-commands')),
    ...(largest && largest.name !== 'get-commands' ? [parts(largest)] : []),
    'every function by package: node bench/bundle.ts [--by-file] [function ...]',
  ]
    .filter((line) => line !== '')
    .join('\n');
  return { title: '3. Cold start (production bundles, fresh node processes)', text, targets, numbers };
}

/** What Lua goes beside the bundles (not in "minified"): read from lua/ the first time a script runs, on the Upstash store only. */
function luaLine(bundles: readonly Bundle[]): string {
  const shipping = bundles.filter((b) => b.scripts.length > 0);
  if (shipping.length === 0) return 'no Lua shipped beside the bundles';
  const sizes = shipping.map((b) => b.luaBytes);
  const example = bundles.find((b) => b.name === 'get-commands') ?? shipping[0];
  return [
    `Lua beside the bundles (lua/<script>.lua, not in "minified"; read on a script's first run, on the Upstash store only):`,
    `${shipping.length} functions, ${kbOf(Math.min(...sizes))} to ${kbOf(Math.max(...sizes))} each`,
    example ? `(${example.name}: ${example.scripts.join(', ')}, ${kbOf(example.luaBytes)})` : '',
  ].join(' ');
}

export { ROOT };
