/**
 * Figure 9, the push channel (docs/push.md), on the local server with Redis (through the bridge):
 *
 * - enqueue → the agent holds the command: N agents connected to ws://…/ws, each polling once
 *   per wake; commands enqueued one at a time for agents drawn in turn, timed from the enqueue
 *   request's start to the poll answer that holds the command. p50 and p99 (targets 250 ms, 1 s).
 * - a job over M connected agents (a group, no rollout): from the create request's start until
 *   every agent's poll has handed it its execution (target 30 s at 10,000).
 * - the cost model, polling every 30 s against push with a 15 minute safety poll, at 1,000 and
 *   100,000 agents, at list prices (pushCost: target push ≤ a fifth of polling at 100,000).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { type LocalServer, startServer } from '../dev/server.ts';
import { runtime } from '../lib/runtime.ts';
import { createRedisClient } from '../lib/store/upstash.ts';
import { NETWORK_MS, PRICES as HTTP_PRICES, MEMORY_MB } from './cost.ts';
import { BENCH_ENV, signToken } from './fixtures.ts';
import { cleanUp } from './roundtrips.ts';
import { SkipFigure } from './roundtrips.ts';
import { atMost, type FigureResult, fmt, table, type TargetResult } from './stats.ts';

/**
 * `promise`, or `fallback` after `ms`; the timer is cleared either way, so a race that is won
 * leaves nothing to keep the process alive (the bench's process ends when its figures do).
 */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export interface PushOptions {
  /** Agents connected for the latency part, and commands timed over them. */
  readonly agents: number;
  readonly commands: number;
  /** Agents of the job part. */
  readonly jobAgents: number;
}

/**
 * List prices (USD, us-east-1) of what the push channel adds, with the date they were taken and
 * where from (bench/README.md repeats them): API Gateway WebSocket APIs (aws.amazon.com/api-gateway/pricing:
 * $1.00 per million messages for the first billion a month, $0.80 beyond, counted in 32 KB units,
 * sent and received; $0.25 per million connection minutes) and SQS standard queues
 * (aws.amazon.com/sqs/pricing: $0.40 per million requests). The HTTP API, Lambda and Upstash
 * prices are figure 6's (bench/cost.ts PRICES).
 */
export const PUSH_PRICES = {
  asOf: '2026-12-01',
  messagePerMillionFirstBillion: 1.0,
  messagePerMillionBeyond: 0.8,
  connectionMinutePerMillion: 0.25,
  sqsPerMillion: 0.4,
} as const;

const SECONDS_PER_MONTH = 30 * 86_400;
/** Lambda billed per poll, result or enqueue: a store round trip and the handler's own time (figure 6 measures it; ~1 ms). */
const REQUEST_MS = NETWORK_MS + 1;

/** One HTTP request to a function making `commands` Upstash commands. */
function request(commands: number, lambdaMs = REQUEST_MS): number {
  const gbSeconds = (Math.ceil(lambdaMs) / 1000) * (MEMORY_MB / 1024);
  return (
    commands * HTTP_PRICES.upstashPerCommand +
    HTTP_PRICES.apiGatewayPerRequest +
    HTTP_PRICES.lambdaPerRequest +
    gbSeconds * HTTP_PRICES.lambdaPerGbSecond
  );
}

/** A function run without API Gateway (a WebSocket route's function, the wake function), making `commands` Upstash commands. */
function invocation(commands: number, lambdaMs = REQUEST_MS): number {
  return request(commands, lambdaMs) - HTTP_PRICES.apiGatewayPerRequest;
}

export interface FleetShape {
  readonly agents: number;
  /** Plain polling interval. */
  readonly pollSeconds: number;
  /** The push channel's safety poll (push_poll_interval_seconds). */
  readonly safetyPollSeconds: number;
  /** The reference agent's keepalive. */
  readonly pingSeconds: number;
  /** A connection lives this long (API Gateway's 2 h maximum). */
  readonly connectionSeconds: number;
  /** Commands per agent per day (each an enqueue, a result, and with push a wake and its poll). */
  readonly commandsPerDay: number;
}

/** What a month of a fleet costs, polling and push, by part. */
export function pushCost(shape: FleetShape) {
  const { agents } = shape;
  const commands = agents * shape.commandsPerDay * 30;
  const work = commands * (request(1) + request(1)); // the enqueue and the result, in both
  const pollingPolls = agents * (SECONDS_PER_MONTH / shape.pollSeconds);
  const polling = {
    polls: pollingPolls * request(1),
    upstash: (pollingPolls + 2 * commands) * HTTP_PRICES.upstashPerCommand,
    apiGateway: (pollingPolls + 2 * commands) * HTTP_PRICES.apiGatewayPerRequest,
    work,
  };
  const pollingTotal = polling.polls + polling.work;

  // Push: the safety polls, and one poll per wake.
  const safetyPolls = agents * (SECONDS_PER_MONTH / shape.safetyPollSeconds);
  const wakePolls = commands;
  const connectionMinutes = (agents * SECONDS_PER_MONTH) / 60;
  // Each ping is two messages (the ping received, the pong sent); each wake one.
  const messages = agents * (SECONDS_PER_MONTH / shape.pingSeconds) * 2 + commands;
  const firstBillion = Math.min(messages, 1e9);
  const messageCost =
    (firstBillion * PUSH_PRICES.messagePerMillionFirstBillion + (messages - firstBillion) * PUSH_PRICES.messagePerMillionBeyond) / 1e6;
  // A reconnect before the 2 h limit: a $connect and a $disconnect, one Upstash command each.
  const reconnects = agents * (SECONDS_PER_MONTH / shape.connectionSeconds);
  // A wake: one SQS message sent and received (a request each), the wake function (one Upstash command, batches of up to 10 tasks; counted singly here).
  const wakes = commands * ((2 * PUSH_PRICES.sqsPerMillion) / 1e6 + invocation(1)) + commands * HTTP_PRICES.upstashPerCommand; // the enqueue's SendMessage is the 2nd request
  const push = {
    polls: (safetyPolls + wakePolls) * request(1),
    connectionMinutes: (connectionMinutes * PUSH_PRICES.connectionMinutePerMillion) / 1e6,
    messages: messageCost,
    reconnects: reconnects * 2 * invocation(1),
    wakes,
    work,
  };
  const pushTotal = push.polls + push.connectionMinutes + push.messages + push.reconnects + push.wakes + push.work;
  return { polling, pollingTotal, push, pushTotal };
}

/** The reference agent's shape (dev/agent-push.ts) against plain 30 s polling, one command a day each. */
export const REFERENCE_SHAPE: Omit<FleetShape, 'agents'> = {
  pollSeconds: 30,
  safetyPollSeconds: 900,
  pingSeconds: 300,
  connectionSeconds: 6_600,
  commandsPerDay: 1,
};

export function costPart(): { text: string; targets: TargetResult[]; numbers: Record<string, number> } {
  const rows: string[][] = [];
  const numbers: Record<string, number> = {};
  for (const agents of [1_000, 100_000]) {
    const c = pushCost({ agents, ...REFERENCE_SHAPE });
    rows.push([
      fmt(agents),
      `$${fmt(c.pollingTotal, 0)}`,
      `$${fmt(c.pushTotal, 0)}`,
      `$${fmt(c.push.polls, 0)}`,
      `$${fmt(c.push.connectionMinutes, 0)}`,
      `$${fmt(c.push.messages, 0)}`,
      `$${fmt(c.push.reconnects, 0)}`,
      `$${fmt(c.push.wakes, 0)}`,
      `${fmt((c.pushTotal / c.pollingTotal) * 100, 1)} %`,
    ]);
    numbers[`${agents}|polling`] = c.pollingTotal;
    numbers[`${agents}|push`] = c.pushTotal;
    numbers[`${agents}|ratio`] = c.pushTotal / c.pollingTotal;
  }
  const text = [
    table(
      ['agents', 'polling 30 s $/mo', 'push $/mo', 'of it: polls', 'conn. minutes', 'messages', 'reconnects', 'wakes', 'push / polling'],
      rows,
    ),
    `push: a safety poll every 15 min, a ping every 5 min (ping + pong: two messages), a reconnect every 1 h 50 min ($connect + $disconnect, ` +
      `one Upstash command each), a wake per command (SQS send + receive, the wake function, one Upstash command, one message) and its poll; ` +
      `both: one command a day per agent (enqueue + result). Prices as of ${PUSH_PRICES.asOf} (us-east-1; bench/README.md): WebSocket ` +
      `$${PUSH_PRICES.messagePerMillionFirstBillion}/M messages (first 1 B; $${PUSH_PRICES.messagePerMillionBeyond} beyond), ` +
      `$${PUSH_PRICES.connectionMinutePerMillion}/M connection minutes; SQS $${PUSH_PRICES.sqsPerMillion}/M requests; HTTP API, Lambda and ` +
      `Upstash as figure 6; ${REQUEST_MS} ms billed per function run; free tiers left out; a 30-day month.`,
  ].join('\n');
  const targets = [atMost('9', 'push cost / polling cost at 100,000 agents', numbers['100000|ratio'] ?? Number.NaN, 0.2, '', 3)];
  return { text, targets, numbers };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** A connected agent of the bench: on each wake one poll (at most `polls` in flight for the whole fleet). */
interface BenchAgent {
  readonly id: string;
  readonly token: string;
  readonly ws: WebSocket;
  /** Command ids each poll handed out, with when. */
  onHeld?: (commandIds: readonly string[], at: number) => void;
}

/** Connects answered 503 and tried again (reported with the figure). */
let connectRetries = 0;

class Limiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running += 1;
    try {
      return await work();
    } finally {
      this.running -= 1;
      this.queue.shift()?.();
    }
  }
}

async function connectAll(server: LocalServer, ids: readonly string[], limiter: Limiter): Promise<BenchAgent[]> {
  const wsUrl = `${server.url.replace('http', 'ws')}/ws`;
  const connectLimit = new Limiter(32);
  return Promise.all(
    ids.map((id) =>
      connectLimit.run(async () => {
        const token = await signToken({ sub: id, scope: 'agent:commands agent:results' });
        let ws: WebSocket | undefined;
        // A 503 (the store busy under the connect storm) is tried again, as an agent's back-off would.
        for (let attempt = 0; ws === undefined; attempt += 1) {
          const trying = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
          const status = await new Promise<number>((resolve, reject) => {
            trying.once('open', () => resolve(101));
            trying.once('error', reject);
            trying.once('unexpected-response', (_req, res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            });
          });
          if (status === 101) ws = trying;
          else if (status !== 503 || attempt >= 5) throw new Error(`upgrade refused: ${status}`);
          else {
            connectRetries += 1;
            await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
          }
        }
        const agent: BenchAgent = { id, token, ws };
        ws.on('message', () => {
          void limiter.run(async () => {
            const answer = await fetch(`${server.url}/api/commands?limit=10`, { headers: { authorization: `Bearer ${token}` } });
            const body = (await answer.json()) as { commands?: { command_id: string }[] };
            agent.onHeld?.(
              (body.commands ?? []).map((c) => c.command_id),
              performance.now(),
            );
          });
        });
        return agent;
      }),
    ),
  );
}

export async function pushFigure(options: PushOptions): Promise<FigureResult> {
  const run = `bench-push-${process.pid}-${randomBytes(3).toString('hex')}`;
  const prefix = `bench:${run}:`;
  let server: LocalServer;
  try {
    server = await startServer({
      env: { ...BENCH_ENV, USE_REDIS: 'true', REDIS_KEY_PREFIX: prefix, REDIS_TIMEOUT_MS: '10000', POWERTOOLS_LOG_LEVEL: 'WARN' },
      port: 0,
    });
  } catch (error) {
    throw new SkipFigure(`the local server with Redis does not start (${(error as Error).message})`);
  }
  const redis = createRedisClient(server.config);
  try {
    await redis.get('bench:missing-key');
  } catch (error) {
    await server.close();
    throw new SkipFigure(`Redis does not answer through the bridge (${(error as Error).message})`);
  }
  const agents: BenchAgent[] = [];
  const numbers: Record<string, number> = {};
  const targets: TargetResult[] = [];
  const lines: string[] = [];
  try {
    const operator = await signToken({ sub: `${run}-ops`, scope: 'admin:commands admin:jobs admin:groups' });
    const polls = new Limiter(64);

    // 1. Enqueue → held, one command at a time over the connected fleet.
    const ids = Array.from({ length: options.agents }, (_, i) => `${run}-a${i}`);
    agents.push(...(await connectAll(server, ids, polls)));
    const latencies: number[] = [];
    for (let i = 0; i < options.commands; i += 1) {
      const agent = agents[(i * 7919) % agents.length] as BenchAgent;
      const started = performance.now();
      const held = new Promise<number>((resolve) => {
        agent.onHeld = (commandIds, at) => {
          if (commandIds.length > 0) resolve(at);
        };
      });
      const created = await fetch(`${server.url}/api/agents/${agent.id}/commands`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'echo', args: { i }, ttl_seconds: 60 }),
      });
      const { command_id: commandId } = (await created.json()) as { command_id: string };
      const at = await within(held, 5_000, Number.NaN);
      latencies.push(at - started);
      agent.onHeld = undefined;
      // Settle it, so that the agent's next poll is empty again.
      await fetch(`${server.url}/api/results`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ command_id: commandId, status: 'completed', result: {} }),
      });
    }
    const sorted = latencies.filter(Number.isFinite).sort((a, b) => a - b);
    numbers.p50Ms = percentile(sorted, 50);
    numbers.p99Ms = percentile(sorted, 99);
    numbers.missed = latencies.length - sorted.length;
    lines.push(
      `enqueue → agent holds it, ${fmt(options.commands)} commands over ${fmt(options.agents)} connected agents: ` +
        `p50 ${fmt(numbers.p50Ms, 1)} ms, p99 ${fmt(numbers.p99Ms, 1)} ms, max ${fmt(sorted.at(-1) ?? Number.NaN, 1)} ms` +
        `${numbers.missed > 0 ? `, ${numbers.missed} not held within 5 s` : ''} (30 s polling: 15 s on average)`,
    );
    targets.push(atMost('9', 'enqueue → held, p50 (ms)', numbers.p50Ms, 250, ' ms', 1));
    targets.push(
      atMost('9', 'enqueue → held, p99 (ms)', numbers.p99Ms + (numbers.missed > 0 ? Number.POSITIVE_INFINITY : 0), 1000, ' ms', 1),
    );

    // 2. A job over the job fleet (a group, no rollout): until every agent holds its execution.
    // Its clients run in a process of their own (bench/push-fleet.ts): the file descriptors of
    // 10,000 connections on both ends do not fit in one process.
    for (const agent of agents.splice(0)) agent.ws.terminate();
    const jobPrefix = `${run}-j`;
    const group = `${run}-fleet`;
    const { groups } = (await runtime()).stores.unchecked;
    const joinLimit = new Limiter(8);
    // Set-up, not measured: a join that times out on a loaded machine is tried again.
    const join = async (agentId: string) => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          return await groups.join(group, agentId);
        } catch (error) {
          if (attempt >= 3) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: options.jobAgents }, (_, i) => joinLimit.run(() => join(`${jobPrefix}${i}`))));
    const child = spawn(
      process.execPath,
      [path.join(import.meta.dirname, 'push-fleet.ts'), server.url, jobPrefix, String(options.jobAgents)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const pending = new Set(Array.from({ length: options.jobAgents }, (_, i) => `${jobPrefix}${i}`));
    let jobId = '';
    let lastAt = 0;
    let lastWokeAt = 0;
    const woken = new Set<string>();
    let ready: () => void = () => {};
    let allHeld: () => void = () => {};
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const held = new Promise<void>((resolve) => {
      allHeld = resolve;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'ready') ready();
      const [kind, agentId, ...ids] = line.split(' ');
      if (kind === 'woke' && jobId !== '' && agentId !== undefined && !woken.has(agentId)) {
        woken.add(agentId);
        lastWokeAt = performance.now();
      }
      if (kind === 'held' && jobId !== '' && ids.includes(jobId) && pending.delete(agentId ?? '')) {
        lastAt = performance.now();
        if (pending.size === 0) allHeld();
      }
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await Promise.race([isReady, exited.then(() => Promise.reject(new Error('the fleet process ended before it was connected')))]);
      const started = performance.now();
      const created = await fetch(`${server.url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'echo', args: {}, targets: { groups: [group] }, ttl_seconds: 600 }),
      });
      const createdMs = performance.now() - started;
      jobId = ((await created.json()) as { job_id: string }).job_id;
      await within(held, 120_000, undefined);
      numbers.jobSeconds = pending.size === 0 ? (lastAt - started) / 1000 : Number.POSITIVE_INFINITY;
      numbers.jobCreateMs = createdMs;
      numbers.jobWokenSeconds = woken.size === options.jobAgents ? (lastWokeAt - started) / 1000 : Number.POSITIVE_INFINITY;
      lines.push(
        `a job over ${fmt(options.jobAgents)} connected agents (a group, no rollout): created in ${fmt(createdMs, 0)} ms, ` +
          `every agent woken after ${fmt(numbers.jobWokenSeconds, 1)} s (the fan-out), ` +
          `every agent held its execution after ${fmt(numbers.jobSeconds, 1)} s (its poll)${pending.size > 0 ? ` (${pending.size} still waiting after 120 s)` : ''}`,
      );
    } finally {
      child.stdin.end();
      await within(exited, 5_000, undefined);
      child.kill();
    }
    targets.push(atMost('9', `job over ${fmt(options.jobAgents)} connected agents, all held (s)`, numbers.jobSeconds, 30, ' s', 1));
    numbers.connectRetries = connectRetries;
    if (connectRetries > 0) lines.push(`(${connectRetries} connects answered 503 under the connect storm and were tried again)`);
  } finally {
    for (const agent of agents) agent.ws.terminate();
    // Before the server closes (its bridge is the way to Redis), once the last writes have landed;
    // again while a pass still finds keys.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let pass = 0; pass < 5; pass += 1) {
      const deleted = await cleanUp(redis, prefix).catch(() => -1);
      if (deleted === 0) break;
    }
    await server.close();
  }

  const cost = costPart();
  Object.assign(numbers, cost.numbers);
  targets.push(...cost.targets);
  return {
    title: '9. Push channel (local server with Redis; cost at list prices)',
    text: [...lines, '', cost.text].join('\n'),
    targets,
    numbers,
  };
}
