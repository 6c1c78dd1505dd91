/**
 * Figure 8, Redis time per request: how long each kind of request holds Redis, measured inside
 * Redis, on a redis-server of the figure's own (a free loopback port, no persistence), with the
 * local Upstash bridge in front and the real runtime on it (USE_REDIS=true, @upstash/redis as in
 * Lambda). Every call goes through the stores' admitted view with a real admission, so the gate
 * (revocation decision, rate limit as configured by default: off) runs inside each script as it
 * does for a request in production.
 *
 * Per kind: the kind runs a few times unmeasured (script loading, EVAL before EVALSHA), then
 * `CONFIG RESETSTAT` and `SLOWLOG RESET`, the measured calls one at a time, then `INFO
 * commandstats` (cmdstat_evalsha and cmdstat_eval: calls and usec, so Redis µs per request and
 * scripts per request), `INFO cpu` (the main thread's CPU time over the same calls: the scripts
 * plus reading and answering the bridge's requests) and `SLOWLOG GET -1` (the slowest single
 * script of the kind).
 *
 * The slow log keeps what takes longer than SLOWLOG_FLOOR_US, not everything
 * (`slowlog-log-slower-than 0`): Redis 7 logs each command a script runs as well as the script,
 * so at 0 every inner call pays for an entry (a page over 1,000,000 targets would write millions)
 * and, the log being bounded, the scripts' own entries are pushed out by their inner commands.
 *
 * The capacity line: agents polling every 30 s that one Redis core carries = 30 s / Redis time
 * per poll. An upper bound: Redis also spends time on the network and protocol (the CPU column).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { startOwnRedis } from '../dev/own-redis.ts';
import type { UpstashBridge } from '../dev/upstash-bridge.ts';
import type { CommandRecord } from '../lib/commands/model.ts';
import { PAGE_BUDGET } from '../lib/commands/lifecycle.ts';
import { loadConfig } from '../lib/config.ts';
import { createRuntime, type Runtime, setRuntime } from '../lib/runtime.ts';
import { redisKeys } from '../lib/store/keys.ts';
import type { Admission, AdmittedStores } from '../lib/store/types.ts';
import { BENCH_ENV } from './fixtures.ts';
import { SkipFigure } from './roundtrips.ts';
import { atMost, type FigureResult, fmt, table, type TargetResult } from './stats.ts';

export interface RedisTimeOptions {
  /** Measured requests per light kind (polls, enqueue, result, job get, a page of 1,000 targets). */
  readonly calls: number;
  /** Measured requests per heavy kind (a job create, a filtered page over a whole target set). */
  readonly heavyCalls: number;
  /** Target counts of the slowest-script rows, smallest first (a job over groups of at most 100,000 members). */
  readonly scales: readonly number[];
  /** Said under the table (the quick run leaves out the 1,000,000 row). */
  readonly note?: string;
}

/** The agents' poll interval the capacity line assumes. */
const POLL_SECONDS = 30;
/** Groups of the big jobs hold at most this many members (the issue's shape: 10 groups of 100,000 for 1,000,000 targets). */
const GROUP_MAX = 100_000;
const IN_PLAY_GROUPS = 10;
const IN_PLAY_JOBS = 16;
const PAGE_TARGETS = 1_000;
const PAGE_FAILED = 100;
const HOUR_MS = 3_600_000;
const RESULT = JSON.stringify({ ok: true });
/** Scripts (and inner commands) slower than this are logged; a kind with none shows "< 20". */
const SLOWLOG_FLOOR_US = 20;

type Control = ReturnType<typeof createClient>;

interface Measured {
  readonly requests: number;
  readonly scripts: number;
  /** Commands the scripts ran (redis.call), all of them. */
  readonly inner: number;
  /** Script time inside Redis per request (commandstats usec / requests), the least of the rounds. */
  readonly usPerRequest: number;
  /** The same, the median round. */
  readonly usMedianRound: number;
  /** Redis main-thread CPU per request over the same calls (scripts, network, protocol). */
  readonly cpuPerRequest: number;
  /** The slowest single script of the kind (SLOWLOG), µs, over every round. */
  readonly maxUs: number;
  /** The slowest single script of each round, the least of them (the targets are judged on it), µs. */
  readonly maxLeastRoundUs: number;
}

interface PrivateRedis {
  readonly port: number;
  readonly control: Control;
  stop(): Promise<void>;
}

/** A redis-server of the figure's own (dev/own-redis.ts) and a client to read its counters; SkipFigure when none is installed. */
async function startPrivateRedis(): Promise<PrivateRedis> {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error !== undefined) throw new SkipFigure(`redis-server is not installed (${probe.error.message})`);
  const own = await startOwnRedis();
  const control = createClient({ socket: { host: '127.0.0.1', port: own.port } });
  control.on('error', () => {});
  await control.connect();
  return {
    port: own.port,
    control,
    stop: async () => {
      if (control.isOpen) control.destroy();
      await own.stop();
    },
  };
}

/** `name:k=v,k=v` lines of an INFO section. */
function infoFields(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.startsWith('#')) continue;
    const fields = new Map<string, string>();
    for (const pair of line.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
      else fields.set('', pair);
    }
    out.set(line.slice(0, colon), fields);
  }
  return out;
}

/** The bench's own commands on its control connection, left out of the inner count. */
const CONTROL_COMMANDS = new Set([
  'cmdstat_info',
  'cmdstat_config|set',
  'cmdstat_config|resetstat',
  'cmdstat_slowlog|reset',
  'cmdstat_slowlog|get',
]);

/** Scripts run and their usec; `inner`: the commands those scripts ran (every other command counted). */
async function scriptStats(control: Control): Promise<{ calls: number; usec: number; inner: number }> {
  const stats = infoFields(await control.info('commandstats'));
  let calls = 0;
  let usec = 0;
  let inner = 0;
  for (const [name, fields] of stats) {
    const n = Number(fields.get('calls') ?? 0);
    if (name === 'cmdstat_evalsha' || name === 'cmdstat_eval') {
      calls += n;
      usec += Number(fields.get('usec') ?? 0);
    } else if (name.startsWith('cmdstat_') && !CONTROL_COMMANDS.has(name)) inner += n;
  }
  return { calls, usec, inner };
}

/** The main thread's CPU seconds (Redis 7; the process's on older ones). */
async function mainThreadCpu(control: Control): Promise<number> {
  const cpu = infoFields(await control.info('cpu'));
  const value = (name: string) => Number(cpu.get(name)?.get('') ?? Number.NaN);
  const main = value('used_cpu_sys_main_thread') + value('used_cpu_user_main_thread');
  return Number.isFinite(main) ? main : value('used_cpu_sys') + value('used_cpu_user');
}

/** The longest EVAL/EVALSHA in the slow log, µs. */
async function slowestScript(control: Control): Promise<number> {
  const entries = (await control.sendCommand(['SLOWLOG', 'GET', '-1'])) as unknown[];
  let max = 0;
  for (const entry of entries) {
    const [, , duration, args] = entry as [unknown, unknown, number, unknown[]];
    const name = String(args?.[0] ?? '').toLowerCase();
    if ((name === 'evalsha' || name === 'eval') && Number(duration) > max) max = Number(duration);
  }
  return max;
}

/**
 * Rounds per kind: CONFIG RESETSTAT before each, the calls split between them. On a shared machine
 * other load only ever adds time to what commandstats sees (Redis descheduled in the middle of a
 * script counts as script time), so the least round is the closest to a script's own cost; the
 * median round is printed beside it.
 */
const ROUNDS = 5;

/** Runs `op` `warm` times unmeasured, then `calls` times in ROUNDS rounds, each between a reset and a read of Redis's own counters. */
async function measure(control: Control, calls: number, op: () => Promise<unknown>, warm = 2): Promise<Measured> {
  for (let i = 0; i < warm; i += 1) await op();
  const rounds = Math.min(ROUNDS, calls);
  const perRound: number[] = [];
  const slowestPerRound: number[] = [];
  let scripts = 0;
  let inner = 0;
  let done = 0;
  const cpuBefore = await mainThreadCpu(control);
  for (let round = 0; round < rounds; round += 1) {
    const count = Math.floor((calls * (round + 1)) / rounds) - done;
    await control.sendCommand(['CONFIG', 'RESETSTAT']);
    await control.sendCommand(['SLOWLOG', 'RESET']);
    for (let i = 0; i < count; i += 1) await op();
    slowestPerRound.push(await slowestScript(control));
    const stats = await scriptStats(control);
    scripts += stats.calls;
    inner += stats.inner;
    perRound.push(stats.usec / count);
    done += count;
  }
  const cpuAfter = await mainThreadCpu(control);
  const sorted = [...perRound].sort((a, b) => a - b);
  return {
    requests: calls,
    scripts,
    inner,
    usPerRequest: sorted[0] ?? 0,
    usMedianRound: sorted[Math.floor(sorted.length / 2)] ?? 0,
    cpuPerRequest: ((cpuAfter - cpuBefore) * 1e6) / calls,
    maxUs: Math.max(...slowestPerRound),
    maxLeastRoundUs: Math.min(...slowestPerRound),
  };
}

/** Members straight into a group's keys (its sorted set and join counter), a thousand per ZADD, pipelined. */
async function fillGroup(control: Control, prefix: string, group: string, members: number, tag: string): Promise<void> {
  const keys = redisKeys(prefix);
  const pending: Promise<unknown>[] = [];
  for (let start = 0; start < members; start += 1000) {
    const chunk: { score: number; value: string }[] = [];
    for (let i = start; i < Math.min(start + 1000, members); i += 1) {
      chunk.push({ score: i + 1, value: `${tag}-${String(i).padStart(7, '0')}` });
    }
    pending.push(control.zAdd(keys.group(group), chunk));
    if (pending.length >= 50) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await control.set(keys.groupSeq(group), String(members));
}

/** `count` calls of `op(i)` with `width` in flight. */
async function inParallel(count: number, width: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await op(next++);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

export async function redisTimeFigure(options: RedisTimeOptions): Promise<FigureResult> {
  const server = await startPrivateRedis();
  let bridge: UpstashBridge | undefined;
  try {
    const { control } = server;
    await control.sendCommand(['CONFIG', 'SET', 'slowlog-log-slower-than', String(SLOWLOG_FLOOR_US)]);
    await control.sendCommand(['CONFIG', 'SET', 'slowlog-max-len', String(options.calls + 100_000)]);
    const { startUpstashBridge } = await import('../dev/upstash-bridge.ts');
    bridge = await startUpstashBridge({ redisHost: '127.0.0.1', redisPort: server.port });
    const prefix = 'bench:redis-time:';
    const config = loadConfig({
      ...BENCH_ENV,
      USE_REDIS: 'true',
      UPSTASH_REDIS_REST_URL: bridge.url,
      UPSTASH_REDIS_REST_TOKEN: bridge.token,
      REDIS_KEY_PREFIX: prefix,
      // A job create over 1,000,000 targets may hold Redis for seconds before the figure's changes land.
      REDIS_TIMEOUT_MS: '60000',
    });
    const rt: Runtime = setRuntime(createRuntime(config));
    const unchecked = rt.stores.unchecked;
    const now = () => rt.clock.now();
    /** The stores as one request of `sub` sees them: a fresh admission (its own jti and instant) per request. */
    const as = (sub: string): AdmittedStores => {
      const at = now();
      const seconds = Math.floor(at / 1000);
      const admission: Admission = { token: { jti: randomUUID(), sub, iat: seconds, exp: seconds + 3600 }, now: at };
      return rt.stores.admitted(admission);
    };
    const operator = 'bench-operator';
    const limit = 10; // GET /api/commands without `limit`: CONFIG_DEFAULTS.commands_per_fetch
    const command = (agentId: string) => {
      const at = now();
      return {
        commandId: randomUUID(),
        agentId,
        command: 'collect_metrics',
        args: { interval_seconds: 30 },
        createdAt: at,
        expiresAt: at + HOUR_MS,
      };
    };
    const spec = (jobId: string, groups: readonly string[], extra: { continuous?: boolean; timeoutMs?: number } = {}) => {
      const at = now();
      return {
        jobId,
        command: 'collect',
        args: {},
        targets: { agents: [], groups: [...groups] },
        createdAt: at,
        expiresAt: at + 2 * HOUR_MS,
        continuous: extra.continuous ?? false,
        ...(extra.timeoutMs === undefined ? {} : { timeoutMs: extra.timeoutMs }),
      };
    };

    const rows: string[][] = [];
    const numbers: Record<string, number> = {};
    const targets: TargetResult[] = [];
    const record = (key: string, label: string, m: Measured) => {
      rows.push([
        label,
        String(m.requests),
        fmt(m.scripts / m.requests, 2),
        fmt(m.inner / m.requests, 1),
        fmt(m.usPerRequest, 1),
        fmt(m.usMedianRound, 1),
        fmt(m.cpuPerRequest, 1),
        m.maxUs === 0 ? `< ${SLOWLOG_FLOOR_US}` : fmt(m.maxUs, 0),
        m.maxLeastRoundUs === 0 ? `< ${SLOWLOG_FLOOR_US}` : fmt(m.maxLeastRoundUs, 0),
      ]);
      numbers[`${key}|us`] = m.usPerRequest;
      numbers[`${key}|usMedianRound`] = m.usMedianRound;
      numbers[`${key}|cpuUs`] = m.cpuPerRequest;
      numbers[`${key}|maxUs`] = m.maxUs;
      numbers[`${key}|maxLeastRoundUs`] = m.maxLeastRoundUs;
      numbers[`${key}|scripts`] = m.scripts / m.requests;
      numbers[`${key}|inner`] = m.inner / m.requests;
    };

    // Polls. Empty queue: an agent with nothing queued and in no group.
    const empty = await measure(control, options.calls, () => as('agent-empty').commands.fetch('agent-empty', limit, now()));
    record('poll-empty', 'poll, empty queue', empty);

    // One command waiting: handed out again on every poll until its result arrives.
    await unchecked.commands.enqueue(command('agent-one'));
    const one = await measure(control, options.calls, () => as('agent-one').commands.fetch('agent-one', limit, now()));
    record('poll-one', 'poll, one command waiting (handed out each time)', one);

    // Jobs in play: agents `done` and `busy` in 10 groups, 16 jobs over them (job i over group i mod 10,
    // even ones continuous), each group with a third member that never polls so every job stays in progress.
    const groups = Array.from({ length: IN_PLAY_GROUPS }, (_, i) => `in-play-${i}`);
    for (const group of groups) {
      for (const member of ['agent-done', 'agent-busy', `idle-${group}`]) await unchecked.groups.join(group, member, now());
    }
    for (let i = 0; i < IN_PLAY_JOBS; i += 1) {
      await unchecked.jobs.create(
        spec(`in-play-job-${i}`, [groups[i % IN_PLAY_GROUPS] as string], { continuous: i % 2 === 0, timeoutMs: HOUR_MS }),
      );
    }
    // Each takes its 16 executions in one poll; `done` reports every one completed, `busy` keeps them running.
    const made: Record<string, CommandRecord[]> = {};
    for (const agent of ['agent-done', 'agent-busy']) {
      made[agent] = await unchecked.commands.fetch(agent, 50, now());
      if (made[agent].length !== IN_PLAY_JOBS) throw new Error(`${agent} was handed ${made[agent].length} executions, not ${IN_PLAY_JOBS}`);
    }
    for (const execution of made['agent-done'] as CommandRecord[]) {
      await unchecked.commands.complete('agent-done', execution.commandId, { status: 'completed', resultJson: RESULT, completedAt: now() });
    }
    const done = await measure(control, options.calls, () => as('agent-done').commands.fetch('agent-done', limit, now()));
    record('poll-jobs-done', `poll, ${IN_PLAY_JOBS} jobs in play over ${IN_PLAY_GROUPS} groups, its executions completed`, done);
    const busy = await measure(control, options.calls, async () => {
      const handed = await as('agent-busy').commands.fetch('agent-busy', 50, now());
      if (handed.length !== IN_PLAY_JOBS) throw new Error(`agent-busy was handed ${handed.length} executions, not ${IN_PLAY_JOBS}`);
    });
    record('poll-jobs-running', `poll (limit 50), ${IN_PLAY_JOBS} jobs in play, its ${IN_PLAY_JOBS} executions running`, busy);

    // Enqueue: a new command each time, over 100 agents.
    let enqueued = 0;
    const enqueue = await measure(control, options.calls, async () => {
      const agent = `agent-enq-${enqueued++ % 100}`;
      const outcome = await as(operator).commands.enqueue(command(agent));
      if (outcome.outcome !== 'created') throw new Error(`enqueue answered ${outcome.outcome}`);
    });
    record('enqueue', 'enqueue a command', enqueue);

    // A result: each call a final result for a command delivered before (10 per agent).
    const warm = 2;
    const waiting: { agent: string; commandId: string }[] = [];
    const resultAgents = Math.ceil((options.calls + warm) / 10);
    await inParallel(options.calls + warm, 16, async (i) => {
      const c = command(`agent-res-${i % resultAgents}`);
      await unchecked.commands.enqueue(c);
    });
    await inParallel(resultAgents, 16, async (i) => {
      const agent = `agent-res-${i}`;
      for (const r of await unchecked.commands.fetch(agent, 50, now())) waiting.push({ agent, commandId: r.commandId });
    });
    let posted = 0;
    const result = await measure(
      control,
      options.calls,
      async () => {
        const { agent, commandId } = waiting[posted++] as { agent: string; commandId: string };
        const outcome = await as(agent).commands.complete(agent, commandId, {
          status: 'completed',
          resultJson: RESULT,
          completedAt: now(),
        });
        if (outcome.outcome !== 'accepted') throw new Error(`a result was answered ${outcome.outcome}`);
      },
      warm,
    );
    record('result', 'post a result (completed)', result);

    // A job of 1,000 targets, every one with its execution (100 failed, the rest completed).
    const pageGroup = 'page-group';
    await inParallel(PAGE_TARGETS, 16, (i) => unchecked.groups.join(pageGroup, `page-${String(i).padStart(4, '0')}`, now()));
    await unchecked.jobs.create(spec('page-job', [pageGroup], { timeoutMs: HOUR_MS }));
    await inParallel(PAGE_TARGETS, 16, async (i) => {
      const agent = `page-${String(i).padStart(4, '0')}`;
      const [execution] = await unchecked.commands.fetch(agent, limit, now());
      if (execution === undefined) throw new Error(`${agent} got no execution of page-job`);
      const failed = i % (PAGE_TARGETS / PAGE_FAILED) === 0;
      await unchecked.commands.complete(agent, execution.commandId, {
        status: failed ? 'failed' : 'completed',
        resultJson: RESULT,
        completedAt: now(),
      });
    });
    const get = await measure(control, options.calls, async () => {
      if ((await as(operator).jobs.get('page-job', now())) === undefined) throw new Error('page-job is gone');
    });
    record('job-get', `job get (${PAGE_TARGETS.toLocaleString('en-US')} targets, every execution made)`, get);
    // A few milliseconds each: a quarter of the light kinds' count.
    const page = await measure(control, Math.ceil(options.calls / 4), async () => {
      const answer = await as(operator).jobs.executions('page-job', { statuses: ['failed'], limit: 50, after: 0 }, now());
      // The page examines PAGE_BUDGET targets, one in ten failed: a short page with a cursor to go on.
      const expected = Math.min(50, PAGE_BUDGET / (PAGE_TARGETS / PAGE_FAILED));
      if (answer?.executions.length !== expected) throw new Error(`the failed page holds ${answer?.executions.length}, not ${expected}`);
    });
    record(
      'page-1000',
      `executions page, status=failed, limit 50 (${PAGE_TARGETS.toLocaleString('en-US')} targets, ${PAGE_FAILED} failed; examines ${PAGE_BUDGET})`,
      page,
    );

    // At scale: a job create over the groups, then a page of its failed executions (none: the page scans the whole target set).
    const filled = new Map<string, number>();
    const groupOf = async (name: string, size: number) => {
      if (!filled.has(name)) {
        await fillGroup(control, prefix, name, size, name);
        filled.set(name, size);
      }
      return name;
    };
    let fillMs = 0;
    for (const scale of options.scales) {
      const label = scale.toLocaleString('en-US');
      const t0 = performance.now();
      const names: string[] = [];
      if (scale < GROUP_MAX) names.push(await groupOf(`big-${scale}`, scale));
      else for (let i = 0; i < Math.ceil(scale / GROUP_MAX); i += 1) names.push(await groupOf(`big-${GROUP_MAX}-${i}`, GROUP_MAX));
      fillMs += performance.now() - t0;
      const shape = names.length === 1 ? `1 group of ${label}` : `${names.length} groups of ${GROUP_MAX.toLocaleString('en-US')}`;
      let created = 0;
      let lastJob = '';
      let pending = 0;
      const wallMs: number[] = [];
      const create = await measure(
        control,
        options.heavyCalls,
        async () => {
          lastJob = `big-job-${scale}-${created++}`;
          const started = performance.now();
          const outcome = await as(operator).jobs.create(spec(lastJob, names));
          wallMs.push(performance.now() - started);
          if (outcome.outcome !== 'created') throw new Error(`a job create over ${label} targets answered ${outcome.outcome}`);
          pending = outcome.job.counts.pending;
        },
        // One unmeasured create loads the script; at the next size it is loaded already.
        scale === options.scales[0] ? 1 : 0,
      );
      record(`create|${scale}`, `job create, ${label} targets (${shape})`, create);
      // What the job counts as pending when created (all its targets while a create writes the whole target set).
      numbers[`create|${scale}|pending`] = pending;
      // The whole create as its caller waits for it: every step's round trip through the bridge, the last measured call.
      numbers[`create|${scale}|wallSeconds`] = (wallMs.at(-1) ?? 0) / 1000;
      const jobId = lastJob;
      const scan = await measure(
        control,
        options.heavyCalls,
        async () => {
          const answer = await as(operator).jobs.executions(jobId, { statuses: ['failed'], limit: 1, after: 0 }, now());
          if (answer === undefined) throw new Error(`${jobId} is gone`);
        },
        0, // the same script as the page of 1,000 targets above: loaded
      );
      record(`page|${scale}`, `executions page, status=failed, limit 1, ${label} targets, none failed`, scan);
      if (scale >= 100_000) {
        targets.push(atMost('8', `slowest job create script at ${label} targets`, create.maxLeastRoundUs / 1000, 10, ' ms', 1));
        targets.push(atMost('8', `slowest filtered executions page script at ${label} targets`, scan.maxLeastRoundUs / 1000, 10, ' ms', 1));
      }
    }
    numbers.fillSeconds = fillMs / 1000;

    for (const [key, m] of [
      ['empty', empty],
      ['jobsDone', done],
      ['jobsRunning', busy],
    ] as const) {
      numbers[`capacity|${key}`] = (POLL_SECONDS * 1e6) / m.usPerRequest;
      numbers[`capacityCpu|${key}`] = (POLL_SECONDS * 1e6) / m.cpuPerRequest;
    }
    targets.unshift(
      atMost('8', `poll with ${IN_PLAY_JOBS} jobs in play (executions completed), Redis µs per poll`, done.usPerRequest, 40, ' µs', 1),
      // Handing out is the cost of each command sent, not of the jobs: per execution handed out, against the poll handing out one.
      atMost(
        '8',
        `poll handing out its ${IN_PLAY_JOBS} running executions (limit 50), Redis µs per execution handed out, against the poll handing out one command`,
        busy.usPerRequest / IN_PLAY_JOBS,
        one.usPerRequest,
        ' µs',
        1,
      ),
    );
    const agents = (n: number) => Math.round(n).toLocaleString('en-US');
    const text = [
      table(
        [
          'request',
          'requests',
          'scripts/request',
          'commands inside/request',
          'Redis µs/request',
          'median round',
          'Redis CPU µs/request',
          'slowest script µs',
          'slowest, least round',
        ],
        rows,
      ),
      'commands inside: what the scripts ran (redis.call), from the same INFO commandstats.',
      `Redis µs/request: INFO commandstats (EVALSHA + EVAL usec / requests), the scripts alone, the least of ${ROUNDS} rounds (CONFIG RESETSTAT`,
      'before each; load on a shared machine only adds to it: Redis descheduled mid-script counts as script time), the median',
      'round beside it; targets are judged on the least round. Redis CPU: the main',
      "thread's CPU time over the same calls (scripts, the bridge's reads and writes, protocol), an upper bound on the",
      `script cost when the machine is loaded; slowest script: SLOWLOG (slowlog-log-slower-than ${SLOWLOG_FLOOR_US}) over the same calls;`,
      'slowest, least round: the slowest script of each round (SLOWLOG RESET before each), the least of them: a cost every round',
      'pays (a dict that grows, a page fault) shows in each, a scheduling stall only in some; the slowest-script targets are judged on it.',
      `Every call through the admitted stores (the gate in the script); ${options.calls} requests per light kind (the page of 1,000 targets a`,
      `quarter of that), ${options.heavyCalls} per heavy one.`,
      `Big groups written straight into their keys (sorted set and join counter, pipelined ZADD): ${fmt(fillMs / 1000, 1)} s.`,
      `A job create as its caller waits for it (every step's round trip through the local bridge, the last create of each size): ${options.scales
        .map((scale) => `${scale.toLocaleString('en-US')} targets ${fmt(numbers[`create|${scale}|wallSeconds`] as number, 1)} s`)
        .join(', ')}.`,
      ...(options.note === undefined ? [] : [options.note]),
      `Capacity, agents polling every ${POLL_SECONDS} s that one Redis core carries (${POLL_SECONDS} s / Redis time per poll; by CPU in brackets):`,
      `  empty queue ${agents(numbers['capacity|empty'] as number)} (${agents(numbers['capacityCpu|empty'] as number)});` +
        ` ${IN_PLAY_JOBS} jobs in play, executions completed ${agents(numbers['capacity|jobsDone'] as number)} (${agents(numbers['capacityCpu|jobsDone'] as number)});` +
        ` executions running ${agents(numbers['capacity|jobsRunning'] as number)} (${agents(numbers['capacityCpu|jobsRunning'] as number)})`,
    ].join('\n');
    return { title: "8. Redis time per request (a private redis-server's own counters, through the bridge)", text, targets, numbers };
  } finally {
    await bridge?.close();
    await server.stop();
  }
}
