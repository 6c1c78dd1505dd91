/**
 * A job's creation in bounded scripts (docs/jobs.md "Large jobs"), on Redis:
 * - on a redis-server of the test's own, with every command in SLOWLOG: a job over 10 groups of
 *   100,000 members (1,000,000 targets, MAX_JOB_TARGETS) through the real handler, every script
 *   under a generous 50 ms (the 10 ms target is the benchmark's), the target count exact; one more
 *   target is refused with 400 and nothing written;
 * - the snapshot while the job is built: a member that leaves before its part is copied is still
 *   a target (and finds the job once it is written), one that joins after the begin is not
 *   (unless the job is continuous), and nothing of the job can be seen before it is written;
 * - a create interrupted between two steps leaves nothing visible, its keys gone soon, and the
 *   same request again under its Idempotency-Key finishes it;
 * - a step sent again by the client (its answer lost) answers the same and does nothing more.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portableScript, type UpstashBridge } from '../../dev/upstash-bridge.ts';
import { handler as createJob } from '../../functions/create-job.ts';
import { loadConfig } from '../../lib/config.ts';
import { MAX_JOB_GROUPS, MAX_JOB_TARGETS, type JobSpec } from '../../lib/jobs/model.ts';
import { storeViews } from '../../lib/store/admission.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import { gated, inputsOf, JOB_CREATE, JOB_CREATE_STEP } from '../../lib/store/scripts.ts';
import type { Stores } from '../../lib/store/types.ts';
import {
  createRedisClient,
  JOB_BUILD_KEEP_MS,
  JOB_CREATE_STEP_MEMBERS,
  type UpstashStoreOptions,
  upstashBackend,
} from '../../lib/store/upstash.ts';
import { invoke } from '../helpers/lambda.ts';
import { type OwnRedis, startOwnRedis } from '../../dev/own-redis.ts';
import { HAS_REDIS, redisEnv, startBridge } from '../helpers/redis.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

/** Members of each big group, and how many groups (the API's most). */
const MEMBERS = 100_000;
const GROUPS = MAX_JOB_GROUPS;
/** No script may hold Redis longer than this here (its CPU time, µs; see measuredCreate); the benchmark holds them to 10 ms. */
const GENEROUS_US = 50_000;
const MINUTE = 60_000;

describe.skipIf(!HAS_REDIS)("a job's creation in bounded scripts, on a redis-server of its own", () => {
  let own: OwnRedis;
  let bridge: UpstashBridge;
  let redis: ReturnType<typeof createClient>;
  let runs = 0;
  const prefix = () => {
    runs += 1;
    return `create:${runs}:`;
  };

  beforeAll(async () => {
    own = await startOwnRedis();
    bridge = await startBridge({ redisPort: own.port });
    redis = createClient({ socket: { host: '127.0.0.1', port: own.port } });
    await redis.connect();
  });
  afterAll(async () => {
    redis?.destroy();
    await bridge?.close();
    await own?.stop();
  });

  /** The stores on the bridge under `keyPrefix`, with the store options given (a small step, a hook between steps). */
  const storesOn = (keyPrefix: string, options: Partial<UpstashStoreOptions> = {}): Stores => {
    const config = loadConfig({ ...TEST_ENV, ...redisEnv(bridge, keyPrefix) });
    return storeViews(upstashBackend(createRedisClient(config), { ...config, ...options }));
  };

  /** `count` members joined one after the other (positions 1, 2, ...), straight into Redis as a join writes them. */
  async function fillGroup(keyPrefix: string, group: string, count: number, name = (i: number) => `${group}-${i}`) {
    const keys = redisKeys(keyPrefix);
    for (let start = 0; start < count; start += 10_000) {
      const batch = Array.from({ length: Math.min(10_000, count - start) }, (_, i) => ({ score: start + i + 1, value: name(start + i) }));
      await redis.zAdd(keys.group(group), batch);
    }
    await redis.set(keys.groupSeq(group), String(count));
  }

  const spec = (targets: { agents?: string[]; groups?: string[] }, extra: Partial<JobSpec> = {}): JobSpec => {
    const now = Date.now();
    return {
      jobId: randomUUID(),
      command: 'collect_metrics',
      args: {},
      targets: { agents: targets.agents ?? [], groups: targets.groups ?? [] },
      createdAt: now,
      expiresAt: now + 10 * MINUTE,
      continuous: false,
      ...extra,
    };
  };

  /** Every script run since the last SLOWLOG RESET, by name, with its time inside Redis (µs) and its SLOWLOG id. */
  async function scriptTimes(): Promise<{ name: string; us: number; at: number }[]> {
    const scripts = (
      [
        ['JOB_CREATE', JOB_CREATE.lua],
        ['gated(JOB_CREATE)', gated(JOB_CREATE).lua],
        ['JOB_CREATE_STEP', JOB_CREATE_STEP.lua],
      ] as const
    ).map(([name, lua]) => {
      const text = portableScript(lua);
      return { name, text, sha: createHash('sha1').update(text).digest('hex') };
    });
    const entries = (await redis.sendCommand(['SLOWLOG', 'GET', '-1'])) as [number, number, number, string[]][];
    return entries
      .filter((entry) => /^eval(sha)?$/i.test(String(entry[3][0])))
      .map((entry) => {
        const [command = '', body = ''] = entry[3].map(String);
        // SLOWLOG keeps the first 128 bytes of an argument: an EVAL is known by the start of its text.
        const script =
          command.toLowerCase() === 'evalsha'
            ? scripts.find(({ sha }) => sha === body)
            : scripts.find(({ text }) => text.startsWith(body.slice(0, 120)));
        return { name: script?.name ?? `other ${command} ${body.slice(0, 60)}`, us: Number(entry[2]), at: Number(entry[0]) };
      });
  }

  const summary = (times: readonly { us: number }[]) => {
    const sorted = times.map((time) => time.us).sort((a, b) => a - b);
    const at = (q: number) => ((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) / 1000).toFixed(2);
    return `${sorted.length} scripts, median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
  };

  /** The CPU time Redis's main thread has used so far, in µs (exact: the kernel's own count, not sampled). */
  async function redisCpu(): Promise<number> {
    const info = await redis.info('cpu');
    const seconds = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? Number.NaN);
    return Math.round((seconds('used_cpu_sys_main_thread') + seconds('used_cpu_user_main_thread')) * 1e6);
  }

  describe('at the largest size the API accepts', () => {
    const keyPrefix = prefix();
    const groups = Array.from({ length: GROUPS }, (_, g) => `big-${g}`);
    let operator: string;
    /** Run between two steps of a build, when set. */
    let betweenSteps: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      // Disjoint groups, so the job's targets are exactly MAX_JOB_TARGETS.
      for (const group of groups) await fillGroup(keyPrefix, group, MEMBERS);
      await redis.sendCommand(['CONFIG', 'SET', 'slowlog-log-slower-than', '0']);
      await redis.sendCommand(['CONFIG', 'SET', 'slowlog-max-len', '100000']);
      const env = redisEnv(bridge, keyPrefix);
      const config = loadConfig({ ...TEST_ENV, ...env });
      const backend = upstashBackend(createRedisClient(config), { ...config, betweenJobCreateSteps: async () => betweenSteps?.() });
      useTestRuntime(env, { stores: backend });
      operator = await signToken({ sub: 'ops-1', scope: 'admin:jobs' });
    }, 120_000);

    const create = (body: unknown) => invoke(createJob, { method: 'POST', path: '/api/jobs', token: operator, body });

    it('refuses one target over MAX_JOB_TARGETS with 400, before anything is written', async () => {
      const keys = async () => (await redis.keys(`${keyPrefix}*`)).filter((key) => !key.startsWith(`${keyPrefix}reply:`)).sort();
      const before = await keys();

      const refused = await create({ command: 'scan', targets: { agents: ['one-more'], groups } });

      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining(`${MAX_JOB_TARGETS}`) });
      // Behind the gate, a write's reply is kept for the client's retry (reply:<call>): the only key added.
      expect(await keys()).toEqual(before);
      const plain = storesOn(keyPrefix).unchecked.jobs;
      const dbsize = await redis.dbSize();
      expect(await plain.create(spec({ agents: ['one-more'], groups }))).toEqual({
        outcome: 'too_many_targets',
        counted: MAX_JOB_TARGETS + 1,
      });
      expect(await redis.dbSize()).toBe(dbsize);
    });

    it('refuses a dry run one target over MAX_JOB_TARGETS with the same 400, and writes nothing', async () => {
      const dbsize = await redis.dbSize();

      const refused = await invoke(createJob, {
        method: 'POST',
        path: '/api/jobs',
        token: operator,
        query: { dry_run: 'true' },
        body: { command: 'scan', targets: { agents: ['one-more'], groups } },
      });

      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({
        error: 'invalid_request',
        error_description: `the job would have up to ${MAX_JOB_TARGETS + 1} targets (its groups' members and its named agents added up); the most is ${MAX_JOB_TARGETS}`,
      });
      expect(await redis.dbSize()).toBe(dbsize);
    });

    it('counts a dry run at exactly MAX_JOB_TARGETS as the create does, an upper bound, in one read', async () => {
      const answer = await invoke(createJob, {
        method: 'POST',
        path: '/api/jobs',
        token: operator,
        query: { dry_run: 'true' },
        body: { command: 'scan', targets: { groups }, rollout: { max_per_minute: 100_000 } },
      });

      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ targets: MAX_JOB_TARGETS, targets_exact: false, estimated_rollout_minutes: 10 });
      expect(Object.values(answer.body.by_group)).toEqual(groups.map(() => MEMBERS));
    });

    /**
     * Creates the job through the handler, and measures every script it runs two ways: its time
     * in SLOWLOG, and the CPU time Redis's main thread spent from one step to the next (read
     * between the steps; nothing else runs on this Redis meanwhile). SLOWLOG's is wall-clock:
     * on a host busy with other work, the OS takes the CPU from Redis in the middle of a script
     * and that wait is counted as the script's (on a shared 2-core host, one script in a few
     * hundred showed 50 to 380 ms that way, at a median of 3 ms). The CPU time is the script's
     * own work, whatever the host does: the bound is held against it, and SLOWLOG's figures are
     * reported beside it.
     */
    async function measuredCreate(targets: { groups: string[] }, expected: number): Promise<void> {
      await redis.sendCommand(['SLOWLOG', 'RESET']);
      const requests = bridge.requests;
      const cpu: number[] = [];
      let last = await redisCpu();
      betweenSteps = async () => {
        const now = await redisCpu();
        cpu.push(now - last);
        last = now;
      };
      const started = performance.now();

      const created = await create({ command: 'scan', targets });

      const elapsed = performance.now() - started;
      betweenSteps = undefined;
      cpu.push((await redisCpu()) - last);
      expect(created.status, created.raw).toBe(201);
      expect(created.body.counts.pending).toBe(expected);
      const keys = redisKeys(keyPrefix);
      expect(await redis.zCard(keys.jobTargets(created.body.job_id))).toBe(expected);
      expect(await redis.hGet(keys.job(created.body.job_id), 'targets')).toBe(String(expected));
      const times = await scriptTimes();
      expect(times.filter((time) => time.name.startsWith('other'))).toEqual([]);
      // The begin, one step per JOB_CREATE_STEP_MEMBERS members, and the step that finds the last group done and writes the job.
      expect(cpu).toHaveLength(1 + expected / JOB_CREATE_STEP_MEMBERS + 1);
      console.info(
        `create over ${expected} targets: ${bridge.requests - requests} requests, ${elapsed.toFixed(0)} ms here\n` +
          `  SLOWLOG: ${summary(times)}\n  CPU: ${summary(cpu.map((us) => ({ us })))}`,
      );
      expect(Math.max(...cpu)).toBeLessThan(GENEROUS_US);
      await redis.unlink(keys.jobTargets(created.body.job_id));
    }

    it('creates one job over one group of 100,000: every script within bounds', async () => {
      await measuredCreate({ groups: [groups[0] as string] }, MEMBERS);
    }, 120_000);

    it(`creates one job over ${GROUPS} groups of ${MEMBERS}: ${MAX_JOB_TARGETS} targets exactly, every script within bounds`, async () => {
      await measuredCreate({ groups }, MAX_JOB_TARGETS);
    }, 300_000);
  });

  describe('while the job is built', () => {
    /** A group of 9 members m1..m9 (positions 1..9), and stores that copy 2 members a step and run `between` between steps. */
    async function world(between: (done: number) => Promise<void>) {
      const keyPrefix = prefix();
      const stores = storesOn(keyPrefix, { jobCreateStepMembers: 2, betweenJobCreateSteps: (_, done) => between(done) });
      for (let i = 1; i <= 9; i += 1) await stores.unchecked.groups.join('g', `m${i}`);
      return { keyPrefix, keys: redisKeys(keyPrefix), ...stores.unchecked };
    }

    it('keeps the snapshot: a leaver is a target (copied or not), a later joiner is not; nothing shows before the job is written', async () => {
      const seen: string[] = [];
      let w: Awaited<ReturnType<typeof world>> | undefined;
      const job = spec({ groups: ['g'] });
      w = await world(async (done) => {
        if (w === undefined) return;
        const now = Date.now();
        if (done === 1) {
          // m1 and m2 are copied; m2 and m7 leave, m4 leaves and joins again, n1 joins.
          for (const agent of ['m2', 'm7', 'm4']) await w.groups.leave('g', agent);
          for (const agent of ['m4', 'n1']) await w.groups.join('g', agent, now);
        }
        // Nothing of the job can be seen until the step that writes it (after it, only the
        // leavers' agent-jobs are left to do).
        if ((await redis.hGet(w.keys.jobBuild(job.jobId), 'buildState')) !== 'building') return;
        if ((await w.jobs.get(job.jobId, now)) !== undefined) seen.push(`get after ${done}`);
        if ((await w.jobs.list({ statuses: undefined, limit: 10, before: 0 }, now)).jobs.length > 0) seen.push(`list after ${done}`);
        if ((await w.commands.fetch('m1', 10, now)).length > 0) seen.push(`poll after ${done}`);
        seen.push('hidden');
      });

      const created = await w.jobs.create(job);

      expect(seen).toEqual(['hidden', 'hidden', 'hidden', 'hidden']);
      expect(created).toMatchObject({ outcome: 'created', job: { counts: { pending: 9 } } });
      const targets = await redis.zRange(w.keys.jobTargets(job.jobId), 0, -1);
      expect(targets).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
      const now = Date.now();
      // The leavers find the job (through agent-jobs), the joiner does not; the build's index is gone.
      for (const agent of ['m2', 'm7', 'm4', 'm9'])
        expect(
          (await w.commands.fetch(agent, 10, now)).map((r) => r.jobId),
          `${agent}: ${JSON.stringify(await redis.keys(`${w.keyPrefix}agent-jobs:*`))}`,
        ).toEqual([job.jobId]);
      expect(await w.commands.fetch('n1', 10, now)).toEqual([]);
      expect(await redis.exists(w.keys.groupBuilds('g'))).toBe(0);
      expect(await w.jobs.get(job.jobId, now)).toMatchObject({ counts: { pending: 5, delivered: 4 } });
    });

    it('gives a continuous job the agents that join during the build, after the snapshot', async () => {
      let w: Awaited<ReturnType<typeof world>> | undefined;
      const job = spec({ groups: ['g'] }, { continuous: true });
      w = await world(async (done) => {
        if (w !== undefined && done === 2) await w.groups.join('g', 'n1', Date.now());
      });

      const created = await w.jobs.create(job);

      expect(created).toMatchObject({ outcome: 'created', job: { counts: { pending: 10 } } });
      expect(await redis.zRangeWithScores(w.keys.jobTargets(job.jobId), -2, -1)).toEqual([
        { value: 'm9', score: 0 },
        { value: 'n1', score: 1 },
      ]);
      expect(await redis.hGet(w.keys.job(job.jobId), 'targetSeq')).toBe('1');
      await w.groups.join('g', 'n2', Date.now());
      expect(await w.jobs.get(job.jobId, Date.now())).toMatchObject({ counts: { pending: 11 } });
    });
  });

  describe('an interrupted create', () => {
    it('leaves nothing visible and expires; the same request again under its Idempotency-Key finishes it', async () => {
      const keyPrefix = prefix();
      const keys = redisKeys(keyPrefix);
      await fillGroup(keyPrefix, 'g', 9);
      const interrupted = storesOn(keyPrefix, {
        jobCreateStepMembers: 2,
        betweenJobCreateSteps: async (_, done) => {
          if (done === 2) throw new Error('the function timed out');
        },
      });
      const key = { sub: 'ops', key: 'nightly', fingerprint: 'f' };
      const first = spec({ groups: ['g'], agents: ['named'] });

      await expect(interrupted.unchecked.jobs.create(first, key)).rejects.toThrow('the function timed out');

      const plain = storesOn(keyPrefix, { jobCreateStepMembers: 2 }).unchecked;
      const now = Date.now();
      expect(await plain.jobs.get(first.jobId, now)).toBeUndefined();
      expect((await plain.jobs.list({ statuses: undefined, limit: 10, before: 0 }, now)).jobs).toEqual([]);
      expect(await plain.commands.fetch('named', 10, now)).toEqual([]);
      for (const key of [keys.jobBuild(first.jobId), keys.jobTargets(first.jobId), keys.groupBuilds('g')]) {
        expect(await redis.pExpireTime(key), key).toBe(first.createdAt + JOB_BUILD_KEEP_MS);
      }
      expect(await redis.exists(keys.job(first.jobId))).toBe(0);
      // Another request under the key is refused while it is being built.
      expect(await plain.jobs.create(spec({ agents: ['other'] }), { ...key, fingerprint: 'g' })).toEqual({ outcome: 'mismatch' });

      const retry = spec({ groups: ['g'], agents: ['named'] });
      const finished = await plain.jobs.create(retry, key);

      expect(finished).toMatchObject({
        outcome: 'created',
        job: { spec: { jobId: first.jobId, createdAt: first.createdAt }, counts: { pending: 10 } },
      });
      expect(await redis.exists(keys.job(retry.jobId))).toBe(0);
      expect(await plain.jobs.create(spec({ groups: ['g'], agents: ['named'] }), key)).toEqual({ ...finished, outcome: 'replayed' });
      expect((await plain.commands.fetch('named', 10, Date.now())).map((record) => record.jobId)).toEqual([first.jobId]);
      const retentionMs = loadConfig(TEST_ENV).resultRetentionSeconds * 1000;
      expect(await redis.pExpireTime(keys.jobTargets(first.jobId))).toBe(first.expiresAt + retentionMs);
    });

    it('a step sent again with its call id answers the same and does nothing more; a stale one does nothing', async () => {
      const keyPrefix = prefix();
      const keys = redisKeys(keyPrefix);
      await fillGroup(keyPrefix, 'g', 9);
      const interrupted = storesOn(keyPrefix, {
        jobCreateStepMembers: 2,
        betweenJobCreateSteps: async (_, done) => {
          if (done === 1) throw new Error('stop');
        },
      });
      const job = spec({ groups: ['g'] });
      await expect(interrupted.unchecked.jobs.create(job)).rejects.toThrow('stop');
      const step = async (done: number, stepCall: string) => {
        const inputs = inputsOf(
          JOB_CREATE_STEP,
          {
            jobKey: keys.job(job.jobId),
            targetsKey: keys.jobTargets(job.jobId),
            jobsKey: keys.jobs(),
            jobSeqKey: keys.jobSeq(),
            buildKey: keys.jobBuild(job.jobId),
            leaversKey: keys.jobLeavers(job.jobId),
          },
          { keyPrefix, step: done, stepCall, stepMembers: 2 },
        );
        return redis.eval(JOB_CREATE_STEP.lua, { keys: inputs.keys, arguments: inputs.args });
      };
      const copied = () => redis.zCard(keys.jobTargets(job.jobId));
      expect(await copied()).toBe(2);

      expect(await step(1, 'call-a')).toEqual(['more', '2']);
      expect(await step(1, 'call-a')).toEqual(['more', '2']);
      expect(await step(1, 'call-b')).toEqual(['more', '2']);
      expect(await copied()).toBe(4);
      let done = 2;
      let answer: unknown;
      for (;;) {
        answer = await step(done, `call-${done}`);
        if (!Array.isArray(answer) || answer[0] !== 'more') break;
        done = Number(answer[1]);
      }
      expect(Array.isArray(answer) && answer[0]).toBe('created');
      expect(await step(done, `call-${done}`)).toEqual(answer);
      expect(Array.isArray(await step(done, 'another')) && ((await step(done, 'another')) as unknown[])[0]).toBe('replayed');
      expect(await copied()).toBe(9);
      expect(await redis.zCard(keys.jobs())).toBe(1);
    });
  });
});
