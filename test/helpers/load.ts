/**
 * A mixed agent workload against a running local server, over real HTTP (loopback only), with a
 * ledger of everything that was accepted so it can all be read back afterwards.
 *
 * Each agent worker is one keep-alive connection's worth of traffic for one agent: fetch its
 * commands, post a result for one it was given, ask whoami. Operator workers keep enqueuing.
 * Workers stop by themselves at `until`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../../dev/own-redis.ts';
import { REDIS_HOST, REDIS_PORT } from './redis.ts';
import { redisTarget } from './targets.ts';
import { signToken, TEST_ENV } from './tokens.ts';

export interface Sample {
  readonly route: string;
  readonly status: number;
  /** performance.now() when the request was sent and when its answer was read. */
  readonly sent: number;
  readonly done: number;
  readonly agent: string;
}

export class Ledger {
  /** Keep every sample (timing per request); otherwise only the tally. */
  private readonly keepSamples: boolean;
  private readonly counts = new Map<string, number>();
  constructor(options: { keepSamples?: boolean } = {}) {
    this.keepSamples = options.keepSamples ?? false;
  }
  /** commandId → agent it was enqueued for. */
  readonly enqueued = new Map<string, string>();
  /** commandId → the JSON of the first result answered 200. */
  readonly accepted = new Map<string, string>();
  /** commandId → agent that got a result accepted for it. */
  readonly acceptedFrom = new Map<string, string>();
  /** commandId → the JSON of a result posted without a 200 (503 or no answer): maybe stored. */
  readonly attempted = new Map<string, string>();
  readonly samples: Sample[] = [];
  readonly violations: string[] = [];
  /** Network-level failures (no HTTP answer at all). */
  readonly errors: string[] = [];

  record(sample: Sample): void {
    const key = `${sample.route} ${sample.status}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (this.keepSamples) this.samples.push(sample);
  }

  /** Answers by `route status`. */
  tally(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort());
  }

  /** How many answers had a status matching the predicate. */
  answers(predicate: (status: number) => boolean = () => true): number {
    let n = 0;
    for (const [key, count] of this.counts) if (predicate(Number(key.split(' ')[1]))) n += count;
    return n;
  }
}

export interface Fleet {
  readonly agents: readonly string[];
  readonly tokens: ReadonlyMap<string, string>;
  readonly operator: string;
}

export async function makeFleet(size: number, ttlSeconds = 3600): Promise<Fleet> {
  const agents = Array.from({ length: size }, (_, i) => `load-agent-${String(i).padStart(3, '0')}`);
  const tokens = new Map<string, string>();
  for (const agent of agents) tokens.set(agent, await signToken({ sub: agent }, { expiresIn: ttlSeconds }));
  const operator = await signToken({ sub: 'load-operator', scope: 'admin:commands admin:config admin:revoke' }, { expiresIn: ttlSeconds });
  return { agents, tokens, operator };
}

async function call(
  ledger: Ledger,
  url: string,
  route: string,
  agent: string,
  init: { method?: string; token: string; body?: unknown; path: string },
): Promise<{ status: number; body: any } | undefined> {
  const sent = performance.now();
  try {
    const response = await fetch(`${url}${init.path}`, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${init.token}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    ledger.record({ route, status: response.status, sent, done: performance.now(), agent });
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  } catch (error) {
    ledger.errors.push(`${route}: ${(error as Error).message}`);
    return undefined;
  }
}

/** Enqueues commands for random agents until `until` (performance.now() time). */
export async function operatorWorker(url: string, fleet: Fleet, ledger: Ledger, until: number, pauseMs = 0): Promise<void> {
  let seq = 0;
  while (performance.now() < until) {
    const agent = fleet.agents[Math.floor(Math.random() * fleet.agents.length)] as string;
    seq += 1;
    const answer = await call(ledger, url, 'enqueue', 'operator', {
      method: 'POST',
      path: `/api/agents/${agent}/commands`,
      token: fleet.operator,
      body: { command: 'load.run', args: { agent, seq } },
    });
    if (answer?.status === 201) ledger.enqueued.set(answer.body.command_id, agent);
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** One agent: fetch, post a result for something it was given, whoami; until `until`. */
export async function agentWorker(url: string, fleet: Fleet, agent: string, ledger: Ledger, until: number): Promise<void> {
  const token = fleet.tokens.get(agent) as string;
  const given: string[] = [];
  const posted = new Set<string>();
  /** The result this agent computed for a command: a retry sends the very same body. */
  const results = new Map<string, string>();
  while (performance.now() < until) {
    const roll = Math.random();
    if (roll < 0.4 || (roll < 0.8 && given.length === 0)) {
      const answer = await call(ledger, url, 'fetch', agent, { path: '/api/commands?limit=5', token });
      if (answer?.status === 200) {
        for (const command of answer.body.commands as { command_id: string; args: { agent?: string } }[]) {
          if (command.args.agent !== agent) ledger.violations.push(`${agent} was given ${command.command_id} of ${command.args.agent}`);
          if (!posted.has(command.command_id) && !given.includes(command.command_id)) given.push(command.command_id);
        }
      }
    } else if (roll < 0.8) {
      const commandId = given.shift() as string;
      let sent = results.get(commandId);
      if (sent === undefined) {
        sent = JSON.stringify({ agent, command_id: commandId, output: `done ${Math.random().toString(36).slice(2)}` });
        results.set(commandId, sent);
      }
      const body = { command_id: commandId, status: 'completed', result: JSON.parse(sent) as unknown };
      const answer = await call(ledger, url, 'post', agent, { method: 'POST', path: '/api/results', token, body });
      if (answer?.status === 200) {
        const first = ledger.accepted.get(commandId);
        if (first !== undefined && first !== sent) ledger.violations.push(`two different results accepted for ${commandId}`);
        ledger.accepted.set(commandId, first ?? sent);
        ledger.acceptedFrom.set(commandId, agent);
        ledger.attempted.delete(commandId);
        posted.add(commandId);
      } else if (answer === undefined || answer.status === 503) {
        // Store down or no answer: maybe stored, maybe not; the agent tries again later, same body.
        if (!ledger.accepted.has(commandId)) ledger.attempted.set(commandId, sent);
        given.push(commandId);
      } else {
        ledger.violations.push(`post ${commandId} by ${agent}: ${answer.status}`);
      }
    } else {
      const answer = await call(ledger, url, 'whoami', agent, { path: '/api/whoami', token });
      if (answer?.status === 200 && answer.body.agent_id !== agent)
        ledger.violations.push(`whoami for ${agent} said ${answer.body.agent_id}`);
    }
  }
}

/**
 * Reads every enqueued command back as an operator: each one exists, each accepted result is
 * stored exactly as accepted, and nothing else was completed. Returns the problems found.
 */
export async function readBack(url: string, fleet: Fleet, ledger: Ledger, concurrency = 32): Promise<string[]> {
  const problems: string[] = [];
  // Everything we enqueued, and anything an agent got a result accepted for (an enqueue whose
  // answer was a 503 may still have been written by a Redis that was only slow).
  const owners = new Map(ledger.enqueued);
  for (const [commandId, agent] of ledger.acceptedFrom) if (!owners.has(commandId)) owners.set(commandId, agent);
  const ids = [...owners.keys()];
  let next = 0;
  const reader = async () => {
    while (next < ids.length) {
      const commandId = ids[next++] as string;
      const agent = owners.get(commandId) as string;
      const response = await fetch(`${url}/api/agents/${agent}/commands/${commandId}`, {
        headers: { authorization: `Bearer ${fleet.operator}` },
      });
      const body = (await response.json()) as { status: string; result: unknown };
      if (response.status !== 200) {
        problems.push(`${commandId}: read back ${response.status}`);
        continue;
      }
      const stored = JSON.stringify(body.result);
      const accepted = ledger.accepted.get(commandId);
      if (accepted !== undefined) {
        if (body.status !== 'completed' || stored !== accepted)
          problems.push(`${commandId}: accepted ${accepted}, stored ${body.status} ${stored}`);
      } else if (body.status === 'completed' || body.status === 'failed') {
        // Only a post whose answer never came (503 after the write, or no answer) may explain it.
        if (ledger.attempted.get(commandId) !== stored) problems.push(`${commandId}: completed with ${stored} without an accepted post`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, reader));
  return problems;
}

/** A free loopback port (closed again; the caller binds it right away). */

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** Resident memory of the server process, bytes (Linux /proc). */
  rss(): number;
  /** The last lines it wrote, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * The service as `npm start` runs it (node dev/server.ts), in its own process so that its
 * memory is its own; on a free loopback port. Resolves once /health answers.
 */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['dev/server.ts'], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      ...env,
      BIZ_SERVICE_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${tail}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not answer /health within 15 s: ${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid as number;
  return {
    url,
    pid,
    rss: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    output: () => tail,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * For the calling describe block: the service as `npm start` runs it, in its own process, on the
 * real Redis through its own bridge, with a fresh key prefix (deleted afterwards by redisTarget).
 * `server` is set by the time the block's tests run.
 */
export function serverOnRedis(label: string, redisTimeoutMs: string): { readonly server: ServerProcess } {
  const { prefix } = redisTarget(label);
  const fixture = {} as { server: ServerProcess };
  beforeAll(async () => {
    fixture.server = await startServerProcess({
      ...TEST_ENV,
      USE_REDIS: 'true',
      REDIS_HOST,
      REDIS_PORT: String(REDIS_PORT),
      REDIS_KEY_PREFIX: prefix,
      REDIS_TIMEOUT_MS: redisTimeoutMs,
    });
  });
  afterAll(async () => {
    await fixture.server?.stop();
  });
  return fixture;
}
