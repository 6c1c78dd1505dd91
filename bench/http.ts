/**
 * Figure 5, HTTP: the local server (dev/server.ts over the real handlers, in-memory
 * store, its access log on) under autocannon at 50 connections on loopback, next to a bare
 * node:http server answering the same bytes, each in a child process, alternating in rounds.
 * The request is an agent's poll: GET /api/commands with its bearer token.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import autocannon, { type Result } from 'autocannon';
import { ROOT } from './bundle.ts';
import { BENCH_ENV, signToken } from './fixtures.ts';
import { atLeast, atMost, type FigureResult, fmt, fmtRatio, ratios, spread, table, type TargetResult } from './stats.ts';

export interface HttpOptions {
  readonly rounds: number;
  /** Seconds per server per round. */
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
}

interface Child {
  readonly url: string;
  /** The child's own CPU time so far (user + system), in ms. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

async function startChild(mode: 'service' | 'bare', env: Record<string, string>): Promise<Child> {
  const child: ChildProcess = fork(path.join(ROOT, 'bench', 'http-child.ts'), [mode], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    execPath: process.execPath,
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start within 15 s`)), 15_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve((message as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} server exited with ${code}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    cpuMs: () =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${mode} server did not report its CPU time`)), 5_000);
        child.once('message', (message) => {
          clearTimeout(timer);
          resolve((message as { cpuMs: number }).cpuMs);
        });
        child.send({ cpu: true });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

function load(url: string, headers: Record<string, string>, seconds: number, connections: number): Promise<Result> {
  return autocannon({ url: `${url}/api/commands`, connections, duration: seconds, timeout: 10, headers });
}

const errorsOf = (r: Result) => r.errors + r.timeouts + r.non2xx;

export async function httpFigure(options: HttpOptions): Promise<FigureResult> {
  const token = await signToken();
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  const service = await startChild('service', { ...BENCH_ENV, BIZ_SERVICE_PORT: '0', USE_REDIS: 'false' });
  let bare: Child | undefined;
  try {
    const probe = await fetch(`${service.url}/api/commands`, { headers });
    const body = await probe.text();
    if (probe.status !== 200) throw new Error(`the local server answered ${probe.status}: ${body}`);
    const answer = {
      status: probe.status,
      headers: { 'Content-Type': probe.headers.get('content-type') ?? '', 'Cache-Control': probe.headers.get('cache-control') ?? '' },
      body,
    };
    bare = await startChild('bare', { BENCH_BARE: JSON.stringify(answer) });

    await load(service.url, headers, options.warmupSeconds, options.connections);
    await load(bare.url, headers, options.warmupSeconds, options.connections);
    const results = { service: [] as Result[], bare: [] as Result[] };
    /** Server CPU µs per request served, per run. */
    const cpuPerRequest = { service: [] as number[], bare: [] as number[] };
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? (['service', 'bare'] as const) : (['bare', 'service'] as const);
      for (const which of order) {
        const child = which === 'service' ? service : (bare as Child);
        const before = await child.cpuMs();
        const result = await load(child.url, headers, options.seconds, options.connections);
        const after = await child.cpuMs();
        results[which].push(result);
        cpuPerRequest[which].push(((after - before) * 1000) / Math.max(1, result.requests.total));
      }
    }

    const rps = { service: results.service.map((r) => r.requests.average), bare: results.bare.map((r) => r.requests.average) };
    const ratio = spread(ratios(rps.service, rps.bare));
    const row = (name: string, rs: Result[], cpu: number[]) => {
      const req = spread(rs.map((r) => r.requests.average));
      return [
        name,
        `${fmt(req.median)} (${fmt(req.min)}–${fmt(req.max)})`,
        fmt(spread(rs.map((r) => r.latency.p50)).median, 1),
        fmt(spread(rs.map((r) => r.latency.p99)).median, 1),
        String(rs.reduce((sum, r) => sum + errorsOf(r), 0)),
        String(rs.reduce((sum, r) => sum + r.requests.total, 0)),
        fmt(spread(cpu).median, 1),
      ];
    };
    const serviceErrors = results.service.reduce((sum, r) => sum + errorsOf(r), 0);
    // What the ratio would be if each server were the bottleneck: bare CPU per request / ours.
    const cpuRatio = spread(ratios(cpuPerRequest.bare, cpuPerRequest.service));
    const targets: TargetResult[] = [
      atLeast('5', 'local server req/s / bare node:http', ratio.median, 0.5),
      atLeast('5', 'local server / bare node:http, server CPU per request (cross-check)', cpuRatio.median, 0.5),
      atMost('5', 'local server errors (errors + timeouts + non-2xx)', serviceErrors, 0, '', 0),
    ];
    const text = [
      table(
        ['server', 'req/s median (min–max)', 'p50 ms', 'p99 ms', 'errors', 'requests', 'server CPU µs/request'],
        [
          row('local server, GET /api/commands', results.service, cpuPerRequest.service),
          row('bare node:http, same bytes', results.bare, cpuPerRequest.bare),
        ],
      ),
      `ratio local/bare req/s: ${fmtRatio(ratio)}; bare/local server CPU per request: ${fmtRatio(cpuRatio)}`,
      `${options.connections} connections, ${options.rounds} x ${options.seconds} s per server, alternating; autocannon in this process, each server in its own;`,
      `the local server's log level: ${process.env.POWERTOOLS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'INFO (default: one access-log line per request)'}.`,
      'req/s is the target; when the machine is busy the load tool caps the bare server first and the req/s ratio reads high: CPU per request is the cross-check.',
    ].join('\n');
    return {
      title: '5. HTTP (local server vs bare node:http, autocannon, loopback)',
      text,
      targets,
      numbers: {
        serviceRps: spread(rps.service).median,
        bareRps: spread(rps.bare).median,
        ratio: ratio.median,
        cpuRatio: cpuRatio.median,
        serviceCpuUsPerRequest: spread(cpuPerRequest.service).median,
        bareCpuUsPerRequest: spread(cpuPerRequest.bare).median,
        serviceErrors,
        serviceP99: spread(results.service.map((r) => r.latency.p99)).median,
      },
    };
  } finally {
    await service.stop();
    await bare?.stop();
  }
}
