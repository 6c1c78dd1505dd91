/**
 * Figure 7, jobs at fleet scale: on the Upstash store (@upstash/redis, as in Lambda) against the
 * local bridge in front of the real Redis, each call through its real exported handler, and the
 * bridge counting the HTTP requests it serves (what Upstash would bill as commands).
 *
 * For each group size (10,000 and 100,000 agents; the quick run 500 and 2,000):
 *   - the group is filled straight into its keys (the layout of lib/store/keys.ts, one pipeline
 *     request per thousand members), since a join per member is not what is measured;
 *   - `POST /api/jobs` over the group: time and requests (the target set is written in Redis
 *     by bounded scripts of at most 1,000 members each, JOB_CREATE_STEP_MEMBERS: one request up to
 *     1,000 members, then one more per thousand; never one record per agent);
 *   - `GET /api/jobs/{id}` before any execution exists, then after every member has polled once
 *     (each poll makes that member's executions, with a timeout so every one has a deadline
 *     entry): its requests and its time at the size, one command whatever the size.
 * Then one agent in every group of the run, in eight more groups with a job each and named in
 * two jobs, polls `GET /api/commands` again and again: its requests per poll with all those jobs
 * in play.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import { type Config, loadConfig } from '../lib/config.ts';
import { createRuntime, type Runtime, setRuntime } from '../lib/runtime.ts';
import { redisKeys } from '../lib/store/keys.ts';
import { createRedisClient } from '../lib/store/upstash.ts';
import { BENCH_ENV, contextFor, eventFrom, type Handler, signToken, template } from './fixtures.ts';
import { SkipFigure } from './roundtrips.ts';
import { atMost, type FigureResult, fmt, spread, table, type TargetResult } from './stats.ts';

export interface JobsOptions {
  /** Group sizes, smallest first. */
  readonly sizes: readonly number[];
  /** Creates measured per size (each a job over the whole group). */
  readonly creates: number;
  /** Measured reads of a job, before and after its executions exist. */
  readonly reads: number;
  /** Measured polls of the agent with jobs in play. */
  readonly polls: number;
  /** Polls in flight while every member polls once. */
  readonly concurrency: number;
  readonly redisHost?: string;
  readonly redisPort?: number;
}

const HOUR_MS = 3_600_000;
const EXTRA_GROUPS = 8;
const NAMED_JOBS = 2;

interface Timed {
  readonly ms: number;
  readonly trips: number;
  readonly body: any;
}

/** Members straight into the group's keys: the members' sorted set, each agent's groups, the join counter. */
async function fill(redis: Redis, prefix: string, group: string, members: readonly string[]): Promise<void> {
  const keys = redisKeys(prefix);
  for (let start = 0; start < members.length; start += 1000) {
    const chunk = members.slice(start, start + 1000);
    const pipeline = redis.pipeline();
    const [first, ...rest] = chunk.map((member, i) => ({ score: start + i + 1, member }));
    if (first !== undefined) pipeline.zadd(keys.group(group), first, ...rest);
    for (const member of chunk) pipeline.sadd(keys.agentGroups(member), group);
    await pipeline.exec();
  }
  await redis.set(keys.groupSeq(group), String(members.length));
}

async function cleanUp(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = (await redis.scan(cursor, { match: `${prefix}*`, count: 5000 })) as [string, string[]];
    for (let i = 0; i < found.length; i += 1000) await redis.del(...found.slice(i, i + 1000));
    cursor = String(next);
  } while (cursor !== '0');
}

export async function jobsFigure(options: JobsOptions): Promise<FigureResult> {
  const { startUpstashBridge } = await import('../dev/upstash-bridge.ts');
  const redisHost = options.redisHost ?? process.env.REDIS_HOST ?? '127.0.0.1';
  const redisPort = options.redisPort ?? (Number(process.env.REDIS_PORT) || 6379);
  const bridge = await startUpstashBridge({ redisHost, redisPort });
  const run = `bench-jobs-${process.pid}-${randomBytes(3).toString('hex')}`;
  const prefix = `bench:${run}:`;
  const config: Config = loadConfig({
    ...BENCH_ENV,
    USE_REDIS: 'true',
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
    REDIS_KEY_PREFIX: prefix,
    REDIS_TIMEOUT_MS: '10000',
  });
  const redis = createRedisClient(config);
  try {
    try {
      await redis.get('bench:missing-key');
    } catch (error) {
      throw new SkipFigure(`Redis at ${redisHost}:${redisPort} does not answer through the bridge (${(error as Error).message})`);
    }
    const rt: Runtime = setRuntime(createRuntime(config));
    const { jobs, groups } = rt.stores.unchecked;
    const handlers: Record<string, Handler> = {};
    for (const file of ['create-job', 'get-job', 'get-commands']) {
      handlers[file] = ((await import(`../functions/${file}.ts`)) as { handler: Handler }).handler;
    }
    const operator = await signToken({ sub: `${run}-operator`, scope: 'admin:jobs admin:groups admin:commands' });
    const poller = `${run}-poller`;
    const pollerToken = await signToken({ sub: poller });
    const call = async (file: string, method: string, path: string, extra: Record<string, unknown>, status: number): Promise<Timed> => {
      const before = bridge.requests;
      const started = performance.now();
      const result = (await (handlers[file] as Handler)(eventFrom(template(method, path, extra)), contextFor(file))) as {
        statusCode?: number;
        body?: string;
      };
      const ms = performance.now() - started;
      const trips = bridge.requests - before;
      if (result?.statusCode !== status)
        throw new Error(`${method} ${path}: expected ${status}, got ${result?.statusCode} ${result?.body ?? ''}`);
      return { ms, trips, body: result.body === undefined ? undefined : JSON.parse(result.body) };
    };
    const createJob = (body: unknown) =>
      call('create-job', 'POST', '/api/jobs', { routeKey: 'POST /api/jobs', token: operator, body: JSON.stringify(body) }, 201);
    const readJob = (jobId: string) =>
      call('get-job', 'GET', `/api/jobs/${jobId}`, { routeKey: 'GET /api/jobs/{jobId}', token: operator, pathParameters: { jobId } }, 200);

    const rows: string[][] = [];
    const numbers: Record<string, number> = {};
    const targets: TargetResult[] = [];
    const readMs = new Map<number, number>();
    for (const size of options.sizes) {
      const group = `${run}-g${size}`;
      const members = Array.from({ length: size }, (_, i) => `${run}-n${size}-${String(i).padStart(6, '0')}`);
      await fill(redis, prefix, group, members);
      await groups.join(group, poller);
      const creates: Timed[] = [];
      for (let i = 0; i < options.creates; i += 1) {
        creates.push(await createJob({ command: 'collect', targets: { groups: [group] }, ttl_seconds: 7200, timeout_seconds: 3600 }));
      }
      const jobId = (creates.at(-1) as Timed).body.job_id as string;
      if ((creates.at(-1) as Timed).body.counts.pending !== size + 1)
        throw new Error(`the job over ${group} does not count ${size + 1} targets`);
      const reads = async () => {
        await readJob(jobId); // unmeasured: script loading
        const timed: Timed[] = [];
        for (let i = 0; i < options.reads; i += 1) timed.push(await readJob(jobId));
        return timed;
      };
      const before = await reads();
      // Every member polls once: each poll makes that member's executions of the run's jobs.
      const now = rt.clock.now();
      let next = 0;
      const pollStarted = performance.now();
      const worker = async () => {
        while (next < members.length) await rt.stores.unchecked.commands.fetch(members[next++] as string, 10, now);
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
      const pollSeconds = (performance.now() - pollStarted) / 1000;
      const after = await reads();
      const made = after.at(-1)?.body.counts.delivered as number;
      if (made !== size) throw new Error(`after every member polled, the job over ${group} counts ${made} delivered, not ${size}`);

      const createMs = spread(creates.map((t) => t.ms));
      const createTrips = Math.max(...creates.map((t) => t.trips));
      const beforeMs = spread(before.map((t) => t.ms));
      const afterMs = spread(after.map((t) => t.ms));
      const readTrips = Math.max(...[...before, ...after].map((t) => t.trips));
      readMs.set(size, afterMs.median);
      const label = size.toLocaleString('en-US');
      rows.push([
        `POST /api/jobs over a ${label}-agent group`,
        `${fmt(createMs.median, 1)} (${fmt(createMs.min, 1)}–${fmt(createMs.max, 1)})`,
        String(createTrips),
      ]);
      rows.push([
        `GET /api/jobs/{id}, ${label} targets, no execution yet`,
        `${fmt(beforeMs.median, 2)} (${fmt(beforeMs.min, 2)}–${fmt(beforeMs.max, 2)})`,
        String(readTrips),
      ]);
      rows.push([
        `GET /api/jobs/{id}, ${label} executions`,
        `${fmt(afterMs.median, 2)} (${fmt(afterMs.min, 2)}–${fmt(afterMs.max, 2)})`,
        String(readTrips),
      ]);
      rows.push([
        `(every member polls once: ${label} polls)`,
        `${fmt(pollSeconds, 1)} s, ${fmt(size / pollSeconds)}/s with ${options.concurrency} in flight`,
        '1 each',
      ]);
      numbers[`create|${size}|ms`] = createMs.median;
      numbers[`create|${size}|trips`] = createTrips;
      numbers[`read|${size}|ms`] = afterMs.median;
      numbers[`read|${size}|msBefore`] = beforeMs.median;
      numbers[`read|${size}|trips`] = readTrips;
      numbers[`fill|${size}|pollsPerSec`] = size / pollSeconds;
      targets.push(atMost('7', `POST /api/jobs over ${label} agents, ms (median)`, createMs.median, 2000, ' ms', 0));
      targets.push(atMost('7', `POST /api/jobs over ${label} agents, Upstash requests`, createTrips, 20, '', 0));
      targets.push(atMost('7', `GET /api/jobs/{id} at ${label} executions, Upstash requests`, readTrips, 1, '', 0));
    }

    // One agent with jobs in play: every group of the run, eight more with a job each, named in two.
    const now = rt.clock.now();
    for (let i = 0; i < EXTRA_GROUPS; i += 1) {
      const group = `${run}-extra-${i}`;
      await groups.join(group, poller);
      await jobs.create({
        jobId: `${run}-extra-job-${i}`,
        command: 'collect',
        args: {},
        targets: { agents: [], groups: [group] },
        createdAt: now,
        expiresAt: now + HOUR_MS,
        continuous: i % 2 === 0,
      });
    }
    for (let i = 0; i < NAMED_JOBS; i += 1) {
      await jobs.create({
        jobId: `${run}-named-job-${i}`,
        command: 'collect',
        args: {},
        targets: { agents: [poller], groups: [] },
        createdAt: now,
        expiresAt: now + HOUR_MS,
        continuous: false,
        rollout: { maxPerMinute: 1 },
      });
    }
    const inPlay = options.sizes.length * options.creates + EXTRA_GROUPS + NAMED_JOBS;
    const poll = () =>
      call('get-commands', 'GET', '/api/commands', { routeKey: 'GET /api/commands', token: pollerToken, query: { limit: '50' } }, 200);
    const first = await poll();
    const handedOut = (first.body.commands as unknown[]).length;
    const polls: Timed[] = [];
    for (let i = 0; i < options.polls; i += 1) polls.push(await poll());
    const pollMs = spread([first, ...polls].map((t) => t.ms));
    // The first poll makes the executions it hands out, and stores their signatures with a second
    // call (docs/signing.md); every later poll is the one call.
    const pollTrips = Math.max(...polls.map((t) => t.trips));
    rows.push([
      `GET /api/commands, ${inPlay} jobs in play over ${options.sizes.length + EXTRA_GROUPS} groups (${handedOut} handed out by the first)`,
      `${fmt(pollMs.median, 2)} (${fmt(pollMs.min, 2)}–${fmt(pollMs.max, 2)})`,
      `${first.trips} first, ${pollTrips} after`,
    ]);
    numbers['poll|trips'] = pollTrips;
    numbers['poll|first-trips'] = first.trips;
    numbers['poll|ms'] = pollMs.median;
    numbers['poll|jobs'] = inPlay;
    targets.push(atMost('7', `GET /api/commands with ${inPlay} jobs in play, Upstash requests`, pollTrips, 1, '', 0));
    targets.push(
      atMost('7', 'GET /api/commands handing out new executions, Upstash requests (the poll, their signatures)', first.trips, 2, '', 0),
    );
    const smallest = options.sizes[0] as number;
    const largest = options.sizes.at(-1) as number;
    if (largest !== smallest) {
      const ratio = (readMs.get(largest) as number) / (readMs.get(smallest) as number);
      numbers['read|ratio'] = ratio;
      targets.push(
        atMost(
          '7',
          `GET /api/jobs/{id} time at ${largest.toLocaleString('en-US')} / at ${smallest.toLocaleString('en-US')} executions`,
          ratio,
          1.5,
          'x',
        ),
      );
    }

    const text = [
      table(['call', 'ms median (min–max)', 'Upstash requests per call'], rows),
      `${options.creates} creates and ${options.reads} reads per size; the job read is one script whatever its size (counters, and`,
      'ZCOUNTs over the deadline sets); creating writes the target set inside Redis (ZUNIONSTORE), never a record per agent.',
    ].join('\n');
    return { title: '7. Jobs at fleet scale (Upstash store through the bridge, real handlers)', text, numbers, targets };
  } finally {
    await cleanUp(redis, prefix).catch(() => {});
    await bridge.close();
  }
}
