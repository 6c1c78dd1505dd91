/** bizops as a child process, and tiny HTTP servers that stand in for the service. */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Io, run } from '../../ops/cli.ts';
import { VERBS } from '../../ops/main.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIZOPS = path.join(ROOT, 'ops/bizops.ts');

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node ops/bizops.ts ...args` with the environment given over the tests' own; stdin from `input`. */
export function bizops(args: readonly string[], options: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<Run> {
  return started(args, options).result;
}

/** bizops started: its result, and a wait for its standard output to show something. */
export function started(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; input?: string } = {},
): { result: Promise<Run>; until(pattern: RegExp): Promise<void> } {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...options.env })) {
    if (value !== undefined) env[name] = value;
  }
  const child = spawn(process.execPath, [BIZOPS, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    for (const wait of waiting.filter((w) => w.pattern.test(stdout))) {
      waiting.splice(waiting.indexOf(wait), 1);
      wait.resolve();
    }
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const result = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
      for (const wait of waiting.splice(0)) wait.resolve();
    });
  });
  child.stdin.end(options.input ?? '');
  return {
    result,
    until: (pattern) =>
      pattern.test(stdout) || child.exitCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.push({ pattern, resolve })),
  };
}

/** The JSON of a run's standard output. */
export function json(run: Run): any {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
}

export interface FakeRequest {
  readonly method: string;
  readonly url: string;
  readonly body: string;
  readonly authorization: string | undefined;
  readonly idempotencyKey: string | undefined;
}

/** A local HTTP server whose answers the test writes; every request is kept. */
export async function fakeService(
  answer: (request: FakeRequest, index: number) => { status: number; headers?: Record<string, string>; body?: unknown },
): Promise<{ url: string; requests: FakeRequest[]; close(): Promise<void> }> {
  const requests: FakeRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        body,
        authorization: req.headers.authorization,
        idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      };
      requests.push(request);
      const { status, headers = {}, body: out } = answer(request, requests.length - 1);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(out === undefined ? '' : JSON.stringify(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * bizops in this process (the same run() the child runs, over real HTTP too): for the checks
 * after a verb's first run as a child, where a process more per check would only cost time.
 */
export async function inProcess(argv: readonly string[], env: NodeJS.ProcessEnv, input = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    argv,
    env,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: async () => input,
    signal: new AbortController().signal,
  };
  const code = await run(VERBS, io);
  return { code, stdout, stderr };
}
