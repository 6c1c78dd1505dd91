/**
 * Nothing a poll or an enqueue writes grows without bound: on a real Redis every key they write
 * has an expiry (the agent's sequence counter goes a retention period after its log, agent-jobs
 * with the latest of its jobs, a poll's memory of the agent's jobs minutes after its full look),
 * and a poll that skips the jobs it has met still finds every job it must. In memory the maps
 * whose Redis keys expire (idempotency keys, agent-jobs, revocations) are pruned a few entries per
 * write, so they empty once what they hold has lapsed, for ids never read again.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import type { JobSpec } from '../../lib/jobs/model.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import { MemoryCommandStore, MemoryJobBook, MemoryJobStore, MemoryRevocationStore } from '../../lib/store/memory.ts';
import { AGENT_MET_KEEP_MS, createUpstashStores } from '../../lib/store/upstash.ts';
import { HAS_REDIS, redisEnv } from '../helpers/redis.ts';
import { redisTarget } from '../helpers/targets.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

const RETENTION_S = 60;
const RETENTION_MS = RETENTION_S * 1000;
const MINUTE = 60_000;

function jobSpec(createdAt: number, overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    jobId: randomUUID(),
    command: 'collect_metrics',
    args: {},
    targets: { agents: [], groups: [] },
    createdAt,
    expiresAt: createdAt + 10 * MINUTE,
    continuous: false,
    ...overrides,
  };
}

describe.skipIf(!HAS_REDIS)('the keys of polls and enqueues on a real Redis', () => {
  const target = redisTarget('poll-keys');
  let runs = 0;
  const fresh = () => {
    runs += 1;
    const keyPrefix = `${target.prefix}${runs}:`;
    const stores = createUpstashStores(
      loadConfig({ ...TEST_ENV, ...redisEnv(target.bridge, keyPrefix, { RESULT_RETENTION_SECONDS: String(RETENTION_S) }) }),
    ).unchecked;
    return { keys: redisKeys(keyPrefix), keyPrefix, ...stores };
  };

  it("keeps an agent's sequence counter a retention period past its log, and drops every key of never-polling agents once their commands are gone", async () => {
    const { keys, keyPrefix, commands } = fresh();
    const now = Date.now();
    await commands.enqueue({ commandId: 'c1', agentId: 'kept', command: 'ping', args: {}, createdAt: now, expiresAt: now + 10 * MINUTE });
    await commands.enqueue({ commandId: 'c2', agentId: 'kept', command: 'ping', args: {}, createdAt: now, expiresAt: now + 5 * MINUTE });
    const logEnd = now + 10 * MINUTE + RETENTION_MS;
    expect(await target.redis.pExpireTime(keys.log('kept'))).toBe(logEnd);
    expect(await target.redis.pExpireTime(keys.queue('kept'))).toBe(logEnd);
    expect(await target.redis.pExpireTime(keys.seq('kept'))).toBe(logEnd + RETENTION_MS);

    // Agents that never poll, their commands already past their end and retention (the test clock in the past).
    const past = now - 2 * 3_600_000;
    for (let i = 0; i < 20; i += 1) {
      await commands.enqueue(
        { commandId: `old-${i}`, agentId: `quiet-${i}`, command: 'ping', args: {}, createdAt: past, expiresAt: past + MINUTE },
        { sub: 'ops', key: `k-${i}`, fingerprint: 'f' },
      );
    }
    const left = (await target.redis.keys(`${keyPrefix}*`)).filter((key) => key.includes('quiet-'));
    expect(left).toEqual([]);
  });

  it('keeps agent-jobs until the latest end of its jobs, and a poll memory for minutes; a held-back target is found on a later poll', async () => {
    const { keys, commands, jobs, groups } = fresh();
    const now = Date.now();
    await groups.join('g', 'early', now);
    await groups.join('g', 'held', now);
    const spec = jobSpec(now, { targets: { agents: ['early', 'held'], groups: ['g'] }, rollout: { maxPerMinute: 1 } });
    const later = jobSpec(now, { expiresAt: now + 20 * MINUTE, targets: { agents: ['held'], groups: [] }, rollout: { maxPerMinute: 1 } });
    await jobs.create(spec);
    await jobs.create(later);

    expect((await commands.fetch('early', 10, now + 1)).map((record) => record.jobId)).toEqual([spec.jobId]);
    // The rollout holds 'held' back on the first job; the second it gets.
    expect((await commands.fetch('held', 10, now + 2)).map((record) => record.jobId)).toEqual([later.jobId]);
    expect(await target.redis.sMembers(keys.agentJobs('held'))).toEqual([spec.jobId]);
    expect(await target.redis.pExpireTime(keys.agentJobs('held'))).toBe(later.expiresAt + RETENTION_MS);
    const metTtl = await target.redis.pTTL(keys.agentMet('held'));
    expect(metTtl).toBeGreaterThan(0);
    expect(metTtl).toBeLessThanOrEqual(AGENT_MET_KEEP_MS);
    expect(await commands.fetch('held', 10, now + 3)).toMatchObject([{ jobId: later.jobId }]);

    // A minute on the window has room again: the poll that skips what it met still looks at the held-back job.
    const [first, second] = await commands.fetch('held', 10, now + 2 + MINUTE + 1);
    expect([first?.jobId, second?.jobId]).toEqual([later.jobId, spec.jobId]);
    expect(await target.redis.exists(keys.agentJobs('held'))).toBe(0);
  });

  it('finds a job made after its last full look, and the continuous jobs of a group it joins, after polls that skipped them', async () => {
    const { commands, jobs, groups } = fresh();
    const now = Date.now();
    const continuous = jobSpec(now, { targets: { agents: [], groups: ['later'] }, continuous: true });
    await jobs.create(continuous);
    expect(await commands.fetch('a', 10, now + 1)).toEqual([]);
    expect(await commands.fetch('a', 10, now + 2)).toEqual([]);

    const named = jobSpec(now + 3, { targets: { agents: ['a'], groups: [] } });
    await jobs.create(named);
    expect((await commands.fetch('a', 10, now + 4)).map((record) => record.jobId)).toEqual([named.jobId]);

    await groups.join('later', 'a', now + 5);
    const polled = await commands.fetch('a', 10, now + 6);
    expect(polled.map((record) => record.jobId)).toEqual([named.jobId, continuous.jobId]);

    // Joined and left between two polls: the job it became a target of is still found.
    const other = jobSpec(now + 7, { targets: { agents: [], groups: ['brief'] }, continuous: true });
    await jobs.create(other);
    expect((await commands.fetch('a', 10, now + 8)).map((record) => record.jobId)).toEqual([named.jobId, continuous.jobId]);
    await groups.join('brief', 'a', now + 9);
    await groups.leave('brief', 'a');
    const after = await commands.fetch('a', 10, now + 10);
    expect(after.map((record) => record.jobId)).toEqual([named.jobId, continuous.jobId, other.jobId]);
  });

  it("drops the poll memory when a join or leave changes the agent's groups, and only then, so the next poll takes a full look", async () => {
    const { keys, commands, groups } = fresh();
    const now = Date.now();
    await groups.join('one', 'm', now);
    await commands.fetch('m', 10, now + 1);
    expect(await target.redis.hGetAll(keys.agentMet('m'))).toEqual({ lookSeq: expect.any(String), wait: '{}' });
    await groups.join('one', 'm', now + 2); // already a member: its groups are the same
    await groups.leave('none', 'm'); // not a member: the same
    expect(await target.redis.exists(keys.agentMet('m'))).toBe(1);
    await groups.join('two', 'm', now + 3);
    expect(await target.redis.exists(keys.agentMet('m'))).toBe(0);
    await commands.fetch('m', 10, now + 4);
    expect(await target.redis.exists(keys.agentMet('m'))).toBe(1);
    await groups.leave('two', 'm');
    expect(await target.redis.exists(keys.agentMet('m'))).toBe(0);
  });

  it('keeps the job indexes of agents and groups that never poll only as long as their jobs: job create and group leave set their expiry as a poll does', async () => {
    const { keys, keyPrefix, jobs, groups } = fresh();
    const now = Date.now();
    await groups.join('quiet-group', 'quiet-member', now);
    await groups.join('quiet-group', 'quiet-leaver', now);
    const first = jobSpec(now, { targets: { agents: ['quiet-named'], groups: ['quiet-group'] } });
    const second = jobSpec(now, { expiresAt: now + 20 * MINUTE, targets: { agents: ['quiet-named'], groups: ['quiet-group'] } });
    await jobs.create(first);
    await jobs.create(second);
    await groups.leave('quiet-group', 'quiet-leaver');

    const latest = second.expiresAt + RETENTION_MS;
    expect(await target.redis.pExpireTime(keys.agentJobs('quiet-named'))).toBe(latest);
    expect(await target.redis.pExpireTime(keys.groupJobs('quiet-group'))).toBe(latest);
    expect(await target.redis.pExpireTime(keys.agentJobs('quiet-leaver'))).toBe(latest);

    // Jobs that ended long ago (the clock in the past): nothing of them is left for ids that never poll.
    const past = now - 2 * 3_600_000;
    await groups.join('old-group', 'old-member', past);
    await jobs.create(jobSpec(past, { expiresAt: past + MINUTE, targets: { agents: ['old-named'], groups: ['old-group'] } }));
    await groups.leave('old-group', 'old-member');
    const left = (await target.redis.keys(`${keyPrefix}*`)).filter((key) => /agent-jobs|group-jobs/.test(key) && key.includes('old-'));
    expect(left).toEqual([]);
  });
});

describe('the memory maps whose Redis keys expire', () => {
  it('empties idempotency keys and agent-jobs once their jobs and keys have lapsed, a few entries per write, and keeps what is live', async () => {
    const book = new MemoryJobBook({ resultRetentionSeconds: RETENTION_S });
    const commands = new MemoryCommandStore({ resultRetentionSeconds: RETENTION_S }, book);
    const jobs = new MemoryJobStore(book);
    const idempotency = (commands as unknown as { idempotency: Map<string, unknown> }).idempotency;
    const t0 = 1_000_000;
    for (let i = 0; i < 40; i += 1) {
      await commands.enqueue(
        { commandId: `c-${i}`, agentId: `quiet-${i}`, command: 'ping', args: {}, createdAt: t0, expiresAt: t0 + MINUTE },
        { sub: 'ops', key: `k-${i}`, fingerprint: 'f' },
      );
      await jobs.create(jobSpec(t0, { targets: { agents: [`quiet-${i}`, `named-${i}`], groups: [] } }), {
        sub: 'ops',
        key: `j-${i}`,
        fingerprint: 'f',
      });
    }
    const live = jobSpec(t0, { expiresAt: t0 + 60 * MINUTE, targets: { agents: ['quiet-0'], groups: [] } });
    await jobs.create(live);
    expect(idempotency.size).toBe(40);
    expect(book.agentJobs.size).toBe(80);
    expect(book.jobIdempotency.size).toBe(40);

    // Past the jobs' retention (expiresAt + retention) and the keys' (createdAt + retention): writes of one other agent prune.
    const later = t0 + 10 * MINUTE + RETENTION_MS;
    for (let i = 0; i < 20; i += 1) {
      await commands.enqueue({
        commandId: `busy-${i}`,
        agentId: 'busy',
        command: 'ping',
        args: {},
        createdAt: later,
        expiresAt: later + MINUTE,
      });
    }
    expect(idempotency.size).toBe(0);
    expect(book.jobIdempotency.size).toBe(0);
    expect([...book.agentJobs]).toEqual([['quiet-0', new Set([live.jobId])]]);
  });

  it('empties the denylist and the allowlist past their expiry, a few entries per revocation or registration', async () => {
    let nowS = 1_000;
    const revocations = new MemoryRevocationStore(() => nowS);
    const maps = revocations as unknown as { revoked: Map<string, number>; registered: Map<string, number> };
    for (let i = 0; i < 40; i += 1) {
      await revocations.revokeToken(`old-${i}`, nowS + 10);
      await revocations.registerToken(`old-${i}`, nowS + 10);
    }
    nowS += 10;
    for (let i = 0; i < 10; i += 1) {
      await revocations.revokeToken(`new-${i}`, nowS + 600);
      await revocations.registerToken(`new-${i}`, nowS + 600);
    }
    expect([...maps.revoked.keys()].sort()).toEqual([...Array(10).keys()].map((i) => `new-${i}`).sort());
    expect([...maps.registered.keys()].sort()).toEqual([...Array(10).keys()].map((i) => `new-${i}`).sort());
  });
});
