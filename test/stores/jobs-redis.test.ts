/**
 * What only Redis can show of fleet jobs, on a real Redis through the bridge: the keys a create
 * and a first delivery write (and when they go), one Upstash request per job store call and per
 * poll however many groups and jobs the agent has, a job over 100,000 agents created in bounded
 * steps with one answer (docs/jobs.md; the Redis time of each script: jobs-create.test.ts), and races between two instances (two bridges, one key space): concurrent polls of one
 * agent make one execution, concurrent cancels accept one, concurrent idempotent creates make one
 * job. The behaviour itself, the same on both stores, is the job suite's.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import { loadConfig } from '../../lib/config.ts';
import type { JobSpec } from '../../lib/jobs/model.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import type { Admission, AdmittedStores, UncheckedStores } from '../../lib/store/types.ts';
import { createUpstashStores, JOB_CREATE_STEP_MEMBERS } from '../../lib/store/upstash.ts';
import { HAS_REDIS, redisEnv, startBridge, type TcpClient } from '../helpers/redis.ts';
import { redisTarget } from '../helpers/targets.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

const RETENTION_MS = 604_800_000; // RESULT_RETENTION_SECONDS' default
const MINUTE = 60_000;

function jobSpec(overrides: Partial<JobSpec> = {}): JobSpec {
  const now = Date.now();
  return {
    jobId: randomUUID(),
    command: 'collect_metrics',
    args: { n: 1 },
    targets: { agents: [], groups: [] },
    createdAt: now,
    expiresAt: now + 10 * MINUTE,
    continuous: false,
    ...overrides,
  };
}

describe.skipIf(!HAS_REDIS)('Upstash job store on a real Redis', () => {
  const target = redisTarget('jobs');
  /** A second instance: its own bridge (its own connections) to the same Redis. */
  let second: UpstashBridge;
  let redis: TcpClient;
  let prefix: string;
  let runs = 0;

  beforeAll(async () => {
    [redis, prefix] = [target.redis, target.prefix];
    second = await startBridge();
  });
  afterAll(async () => {
    await second.close();
  });

  /** Both views of the stores on a bridge under a key prefix of this test's own (`shared`: the same as another call's). */
  const viewsOn = (bridge: UpstashBridge, keyPrefix: string, extra: Record<string, string> = {}) =>
    createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(bridge, keyPrefix, extra) }));
  /** The unchecked stores of viewsOn, for setting up and reading state. */
  const storesOn = (bridge: UpstashBridge, keyPrefix: string) => viewsOn(bridge, keyPrefix).unchecked;
  const freshPrefix = () => {
    runs += 1;
    return `${prefix}${runs}:`;
  };

  it('writes the job, its targets in byte order, the indexes and the key, each kept until the job or the key goes', async () => {
    const keyPrefix = freshPrefix();
    const keys = redisKeys(keyPrefix);
    const { groups, jobs } = storesOn(target.bridge, keyPrefix);
    for (const agent of ['web-2', 'web-1', 'both']) await groups.join('web:eu', agent);
    await groups.join('db', 'both');
    const before = new Set(await redis.keys(`${keyPrefix}*`));
    const spec = jobSpec({ targets: { agents: ['named:1', 'web-1'], groups: ['web:eu', 'db'] }, rollout: { maxPerMinute: 5 } });

    const created = await jobs.create(spec, { sub: 'ops:1', key: 'k-1', fingerprint: 'f-1' });

    const written = (await redis.keys(`${keyPrefix}*`)).filter((key) => !before.has(key)).sort();
    expect(written).toEqual(
      [
        keys.job(spec.jobId),
        keys.jobTargets(spec.jobId),
        keys.jobs(),
        keys.jobSeq(),
        keys.groupJobs('web:eu'),
        keys.groupJobs('db'),
        keys.agentJobs('named:1'),
        keys.agentJobs('web-1'),
        keys.jobIdempotency('ops:1', 'k-1'),
      ].sort(),
    );
    expect(created).toMatchObject({ outcome: 'created', job: { status: 'in_progress', counts: { pending: 4 } } });
    expect(await redis.zRangeWithScores(keys.jobTargets(spec.jobId), 0, -1)).toEqual(
      ['both', 'named:1', 'web-1', 'web-2'].map((value) => ({ value, score: 0 })),
    );
    expect(await redis.hmGet(keys.job(spec.jobId), ['seq', 'targets', 'initialTargets', 'targetSeq', 'rolloutMax'])).toEqual([
      '1',
      '4',
      '4',
      '0',
      '5',
    ]);
    for (const key of [keys.job(spec.jobId), keys.jobTargets(spec.jobId)]) {
      expect(await redis.pExpireTime(key), key).toBe(spec.expiresAt + RETENTION_MS);
    }
    expect(await redis.pExpireTime(keys.jobIdempotency('ops:1', 'k-1'))).toBe(spec.createdAt + RETENTION_MS);
    expect(await redis.zScore(keys.jobs(), spec.jobId)).toBe(1);
  });

  it("writes a first delivery as the agent's command, its execution, its rollout entry and its deadline, kept until the job goes", async () => {
    const keyPrefix = freshPrefix();
    const keys = redisKeys(keyPrefix);
    const { commands, jobs } = storesOn(target.bridge, keyPrefix);
    const spec = jobSpec({ targets: { agents: ['a:1'], groups: [] }, rollout: { maxPerMinute: 5 }, timeoutMs: 30_000 });
    await jobs.create(spec);
    const now = spec.createdAt + 1_000;

    const [made] = await commands.fetch('a:1', 10, now);

    expect(made).toMatchObject({ commandId: spec.jobId, jobId: spec.jobId, agentId: 'a:1', deliveredAt: now, deadlineAt: now + 30_000 });
    expect(await redis.zScore(keys.queue('a:1'), spec.jobId)).toBe(1);
    expect(await redis.zScore(keys.log('a:1'), spec.jobId)).toBe(1);
    expect(await redis.sMembers(keys.jobExecs(spec.jobId))).toEqual(['a:1']);
    expect(await redis.zScore(keys.jobRollout(spec.jobId), 'a:1')).toBe(now);
    expect(await redis.zScore(keys.jobDeadlines(spec.jobId, 'delivered'), 'a:1')).toBe(now + 30_000);
    for (const key of [keys.jobExecs(spec.jobId), keys.jobRollout(spec.jobId), keys.jobDeadlines(spec.jobId, 'delivered')]) {
      expect(await redis.pExpireTime(key), key).toBe(spec.expiresAt + RETENTION_MS);
    }
    expect(await redis.pExpireTime(keys.command('a:1', spec.jobId))).toBe(now + 30_000 + RETENTION_MS);

    // In progress: the deadline entry moves to the other phase's set; the result takes it out.
    await commands.complete('a:1', spec.jobId, { status: 'in_progress', at: now + 1, statusDetailsJson: undefined, timeoutMs: 5_000 });
    expect(await redis.zScore(keys.jobDeadlines(spec.jobId, 'delivered'), 'a:1')).toBeNull();
    expect(await redis.zScore(keys.jobDeadlines(spec.jobId, 'in_progress'), 'a:1')).toBe(now + 5_001);
    await commands.complete('a:1', spec.jobId, { status: 'completed', resultJson: '{}', completedAt: now + 2 });
    expect(await redis.zCard(keys.jobDeadlines(spec.jobId, 'in_progress'))).toBe(0);
    expect(await jobs.get(spec.jobId, now + 3)).toMatchObject({ status: 'completed', counts: { completed: 1, pending: 0 } });
  });

  it('keeps the indexes a poll walks small: a leaver is put in agent-jobs, an ended job leaves them when a poll meets it', async () => {
    const keyPrefix = freshPrefix();
    const keys = redisKeys(keyPrefix);
    const { commands, groups, jobs } = storesOn(target.bridge, keyPrefix);
    for (const agent of ['stays', 'leaves']) await groups.join('g:1', agent);
    const spec = jobSpec({ targets: { agents: ['named'], groups: ['g:1'] } });
    await jobs.create(spec);
    const now = spec.createdAt + 1;

    await groups.leave('g:1', 'leaves');
    expect(await redis.sMembers(keys.agentJobs('leaves'))).toEqual([spec.jobId]);
    expect((await commands.fetch('leaves', 10, now)).map((record) => record.jobId)).toEqual([spec.jobId]);
    await commands.fetch('leaves', 10, now + 1); // it has its execution now: the entry goes
    expect(await redis.exists(keys.agentJobs('leaves'))).toBe(0);

    await jobs.cancel(spec.jobId, { reason: undefined, force: false, at: now + 2 });
    expect(await redis.sMembers(keys.groupJobs('g:1'))).toEqual([spec.jobId]); // the cancel does not declare the group's keys
    expect(await commands.fetch('stays', 10, now + 3)).toEqual([]);
    expect(await redis.exists(keys.groupJobs('g:1'))).toBe(0);
    expect(await commands.fetch('named', 10, now + 3)).toEqual([]);
    expect(await redis.exists(keys.agentJobs('named'))).toBe(0);
  });

  it('uses one HTTP request per job store call and per poll, behind the gate (allowlist, rate limit on) and without it', async () => {
    const keyPrefix = freshPrefix();
    const plain = storesOn(second, keyPrefix);
    const gatedStores = viewsOn(second, keyPrefix, { REVOCATION_MODE: 'allowlist', RATE_LIMIT_REQUESTS: '100000' });
    const nowS = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    await gatedStores.unchecked.revocations.registerToken(jti, nowS + 600);
    const admission: Admission = { token: { jti, sub: 'rt-operator', iat: nowS, exp: nowS + 600 }, now: Date.now() };
    for (let g = 0; g < 3; g += 1) await plain.groups.join(`rt-${g}`, 'rt-agent');
    const calls = (stores: AdmittedStores | UncheckedStores) => {
      const now = Date.now();
      const spec = jobSpec({ targets: { agents: ['rt-named'], groups: ['rt-0', 'rt-1', 'rt-2'] } });
      return [
        () => stores.jobs.create({ ...spec, jobId: randomUUID() }, { sub: 'rt', key: randomUUID(), fingerprint: 'f' }),
        () => stores.jobs.get(spec.jobId, now),
        () => stores.jobs.list({ statuses: ['in_progress'], limit: 10, before: 0 }, now),
        () => stores.jobs.executions(spec.jobId, { statuses: undefined, limit: 10, after: 0 }, now),
        () => stores.jobs.cancel(randomUUID(), { reason: undefined, force: false, at: now }),
        () => stores.commands.fetch('rt-agent', 10, now),
        () => stores.commands.complete('rt-agent', randomUUID(), { status: 'completed', resultJson: undefined, completedAt: now }),
        () => stores.groups.join('rt-3', 'rt-agent'),
        () => stores.groups.leave('rt-3', 'rt-agent'),
      ];
    };
    await plain.jobs.create(jobSpec({ targets: { agents: [], groups: ['rt-0'] } }));
    // The fewest requests in three tries: a script's first EVALSHA falls back to EVAL once (NOSCRIPT).
    const fewest = async (run: () => Promise<unknown>) => {
      let least = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i += 1) {
        const before = second.requests;
        await run();
        least = Math.min(least, second.requests - before);
      }
      return least;
    };

    const counts: number[] = [];
    for (const run of [...calls(plain), ...calls(gatedStores.admitted(admission))]) counts.push(await fewest(run));

    expect(counts).toEqual(Array.from({ length: 18 }, () => 1));
  });

  it('creates a job over a group of 100,000 agents in bounded steps, one answer, every member a target once', async () => {
    const keyPrefix = freshPrefix();
    const keys = redisKeys(keyPrefix);
    const big = 100_000;
    // The group built straight in Redis (pipelined ZADD): 100,000 joins through the bridge would take a minute.
    for (let start = 0; start < big; start += 10_000) {
      const batch = Array.from({ length: 10_000 }, (_, i) => ({
        score: start + i + 1,
        value: `agent-${String(start + i).padStart(6, '0')}`,
      }));
      await redis.zAdd(keys.group('huge'), batch);
    }
    await redis.zAdd(keys.group('small'), [{ score: 1, value: 'agent-000001' }]);
    const { jobs, commands } = storesOn(second, keyPrefix);
    await jobs.create(jobSpec({ targets: { agents: [], groups: ['small'] } })); // the script loaded on this bridge
    const spec = jobSpec({ targets: { agents: ['outsider', 'agent-000007'], groups: ['huge', 'small'] } });
    const before = second.requests;
    const started = performance.now();

    const created = await jobs.create(spec);

    const elapsed = performance.now() - started;
    // The begin, one step per JOB_CREATE_STEP_MEMBERS members (the last one writes the job), and
    // the step script's first EVALSHA falling back to EVAL once on this bridge.
    const steps = Math.ceil((big + 1) / JOB_CREATE_STEP_MEMBERS);
    expect(second.requests - before).toBeGreaterThanOrEqual(1 + steps);
    expect(second.requests - before).toBeLessThanOrEqual(1 + steps + 2);
    expect(created).toMatchObject({ outcome: 'created', job: { counts: { pending: big + 1 } } });
    expect(await redis.zCard(keys.jobTargets(spec.jobId))).toBe(big + 1);
    expect(elapsed).toBeLessThan(10_000); // the function's timeout; the bench measures it
    const now = Date.now();
    expect((await commands.fetch('agent-099999', 10, now)).map((record) => record.jobId)).toEqual([]); // not in the agent's groups here
    const page = await jobs.executions(spec.jobId, { statuses: undefined, limit: 3, after: big - 2 }, now);
    expect(page?.executions.map((entry) => [entry.agentId, entry.status])).toEqual([
      ['agent-099998', 'pending'],
      ['agent-099999', 'pending'],
      ['outsider', 'pending'],
    ]);
    expect(await redis.keys(`${keyPrefix}job-build:*`)).toHaveLength(1); // kept a short while (JOB_BUILD_KEEP_MS)
    expect(await redis.exists(keys.jobLeavers(spec.jobId))).toBe(0);
    expect(await redis.exists(keys.groupBuilds('huge'))).toBe(0);
    console.info(`create over ${big + 1} targets: ${elapsed.toFixed(0)} ms, ${second.requests - before} requests`);
  }, 60_000);

  it('answers a poll with 20 groups and several jobs in one request, the jobs oldest first', async () => {
    const keyPrefix = freshPrefix();
    const { groups, jobs, commands } = storesOn(second, keyPrefix);
    const agent = 'poller';
    for (let g = 0; g < 20; g += 1) await groups.join(`pg-${g}`, agent);
    const specs = [
      jobSpec({ targets: { agents: [], groups: ['pg-3'] } }),
      jobSpec({ targets: { agents: [agent], groups: [] } }),
      jobSpec({ targets: { agents: [], groups: ['pg-19', 'pg-0'] } }),
      jobSpec({ targets: { agents: ['other'], groups: ['pg-7'] } }),
      jobSpec({ targets: { agents: ['other'], groups: [] } }), // not for this agent
    ];
    for (const spec of specs) await jobs.create(spec);
    await commands.fetch('nobody', 1, Date.now()); // the script loaded on this bridge
    const before = second.requests;

    const polled = await commands.fetch(agent, 10, Date.now());

    expect(second.requests - before).toBe(1);
    expect(polled.map((record) => record.jobId)).toEqual(specs.slice(0, 4).map((spec) => spec.jobId));
    const again = await commands.fetch(agent, 10, Date.now());
    expect(again.map((record) => [record.jobId, record.deliveryCount])).toEqual(specs.slice(0, 4).map((spec) => [spec.jobId, 2]));
  });

  it('makes one execution for an agent polling many times at once through two instances', async () => {
    const keyPrefix = freshPrefix();
    const keys = redisKeys(keyPrefix);
    const [one, two] = [storesOn(target.bridge, keyPrefix), storesOn(second, keyPrefix)];
    await one.groups.join('race', 'racer');
    const spec = jobSpec({ targets: { agents: ['racer'], groups: ['race'] } });
    await one.jobs.create(spec);
    const now = Date.now();

    const polls = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? one : two).commands.fetch('racer', 10, now)));

    const handedOut = polls.flat();
    expect(handedOut.every((record) => record.commandId === spec.jobId)).toBe(true);
    expect(handedOut.map((record) => record.deliveryCount).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      Array.from({ length: 24 }, (_, i) => i + 1),
    );
    expect(await redis.sMembers(keys.jobExecs(spec.jobId))).toEqual(['racer']);
    expect(await redis.zCard(keys.queue('racer'))).toBe(1);
    expect(await one.jobs.get(spec.jobId, now)).toMatchObject({ counts: { pending: 0, delivered: 1 } });
  });

  it('accepts exactly one of many concurrent cancels of a job through two instances', async () => {
    const keyPrefix = freshPrefix();
    const [one, two] = [storesOn(target.bridge, keyPrefix), storesOn(second, keyPrefix)];
    const spec = jobSpec({ targets: { agents: ['c-1', 'c-2', 'c-3'], groups: [] } });
    await one.jobs.create(spec);
    await one.commands.fetch('c-1', 10, spec.createdAt + 1);
    const at = spec.createdAt + 2;

    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? one : two).jobs.cancel(spec.jobId, { reason: `r${i}`, force: false, at })),
    );

    const accepted = answers.filter((answer) => answer.outcome === 'accepted');
    expect(accepted).toHaveLength(1);
    expect(answers.filter((answer) => answer.outcome === 'refused')).toHaveLength(15);
    for (const answer of answers) expect(answer).toMatchObject({ job: { status: 'canceled', counts: { pending: 0, canceled: 2 } } });
    expect(await two.jobs.get(spec.jobId, at + 1)).toEqual(accepted[0]?.outcome === 'accepted' ? accepted[0].job : undefined);
  });

  it('makes one job of many concurrent creates with one Idempotency-Key through two instances', async () => {
    const keyPrefix = freshPrefix();
    const keys = redisKeys(keyPrefix);
    const [one, two] = [storesOn(target.bridge, keyPrefix), storesOn(second, keyPrefix)];
    const spec = jobSpec({ targets: { agents: ['i-1', 'i-2'], groups: [] } });
    const request = { sub: 'ops', key: 'same-key', fingerprint: 'same-body' };

    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? one : two).jobs.create({ ...spec, jobId: randomUUID() }, request)),
    );

    const created = answers.filter((answer) => answer.outcome === 'created');
    expect(created).toHaveLength(1);
    const made = created[0]?.outcome === 'created' ? created[0].job : undefined;
    expect(answers.filter((answer) => answer.outcome === 'replayed').map((answer) => answer.outcome === 'replayed' && answer.job)).toEqual(
      Array.from({ length: 15 }, () => made),
    );
    expect(await redis.zCard(keys.jobs())).toBe(1);
    expect(await one.jobs.create({ ...spec, jobId: randomUUID() }, { ...request, fingerprint: 'another-body' })).toEqual({
      outcome: 'mismatch',
    });
  });
});
