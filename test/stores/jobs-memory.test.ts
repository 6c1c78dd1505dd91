/**
 * The in-memory job store through its interfaces: a job made over agents and groups, its
 * executions made in the agents' own polls (CommandStore.fetch) and reported as any command, the
 * brakes (rollout with a moving clock, abort at the crossing execution, cancel with and without
 * force), targets kept by group joins and leaves, and the counts against a recount of the
 * executions. The full behavioural contract runs on both stores elsewhere; this is the memory
 * store's own, small and direct.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.ts';
import type { CommandStatus, Report } from '../../lib/commands/model.ts';
import { loadConfig } from '../../lib/config.ts';
import { type JobCounts, type JobSpec, MAX_JOB_TARGETS } from '../../lib/jobs/model.ts';
import { createRuntime } from '../../lib/runtime.ts';
import {
  MemoryCommandStore,
  MemoryGroupStore,
  MemoryJobBook,
  MemoryJobStore,
  MemoryRevocationStore,
  memoryBackend,
} from '../../lib/store/memory.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

const T0 = Date.UTC(2026, 0, 1);
const TTL = 3_600_000;
const RETENTION_SECONDS = 600;

function stores(resultRetentionSeconds = RETENTION_SECONDS) {
  const book = new MemoryJobBook({ resultRetentionSeconds });
  return {
    commands: new MemoryCommandStore({ resultRetentionSeconds }, book),
    groups: new MemoryGroupStore(book),
    jobs: new MemoryJobStore(book),
    clock: new ManualClock(T0),
  };
}

const specOf = (extra: Partial<JobSpec> = {}): JobSpec => ({
  jobId: 'job-1',
  command: 'restart',
  args: { service: 'nginx' },
  targets: { agents: [], groups: [] },
  createdAt: T0,
  expiresAt: T0 + TTL,
  continuous: false,
  ...extra,
});

const result = (status: 'completed' | 'failed' | 'rejected', at: number): Report => ({ status, resultJson: undefined, completedAt: at });
const counts = (some: Partial<JobCounts>): JobCounts => ({
  pending: 0,
  delivered: 0,
  in_progress: 0,
  completed: 0,
  failed: 0,
  rejected: 0,
  timed_out: 0,
  canceled: 0,
  expired: 0,
  ...some,
});
const all = { statuses: undefined, limit: 1000, after: 0 };

describe('creating a job', () => {
  it('targets the named agents and the groups members once each, in code-unit order', async () => {
    const { groups, jobs } = stores();
    for (const agent of ['w2', 'w1', 'a1']) await groups.join('web', agent, T0);
    await groups.join('db', 'a1', T0);

    const made = await jobs.create(specOf({ targets: { agents: ['z9', 'a1', 'z9'], groups: ['web', 'db', 'none'] } }));

    expect(made).toMatchObject({ outcome: 'created', job: { status: 'in_progress', counts: counts({ pending: 4 }) } });
    const page = await jobs.executions('job-1', all, T0);
    expect(page?.executions.map((e) => [e.agentId, e.status, e.record])).toEqual([
      ['a1', 'pending', undefined],
      ['w1', 'pending', undefined],
      ['w2', 'pending', undefined],
      ['z9', 'pending', undefined],
    ]);
  });

  it('answers a replay with the job as it was created, and another request with the same key as a mismatch', async () => {
    const { commands, jobs } = stores();
    const request = { sub: 'ops', key: 'k-1', fingerprint: 'f-1' };
    const first = await jobs.create(specOf({ targets: { agents: ['a1', 'a2'], groups: [] } }), request);
    await commands.fetch('a1', 10, T0 + 5);

    const replay = await jobs.create(specOf({ jobId: 'job-2', createdAt: T0 + 10 }), request);
    const other = await jobs.create(specOf({ jobId: 'job-3', createdAt: T0 + 10 }), { ...request, fingerprint: 'f-2' });

    expect(first.outcome).toBe('created');
    expect(replay).toEqual({ ...first, outcome: 'replayed' });
    expect(other).toEqual({ outcome: 'mismatch' });
    expect(await jobs.get('job-2', T0 + 10)).toBeUndefined();
    expect((await jobs.get('job-1', T0 + 10))?.counts).toEqual(counts({ pending: 1, delivered: 1 }));
  });
});

describe('the target limit', () => {
  it('refuses a job counted over MAX_JOB_TARGETS (groups sizes and named agents added up) and keeps nothing, its key neither', async () => {
    const { groups, jobs } = stores();
    // Ten groups of 100,000, as the Redis suite's; the count adds the sizes, so overlap counts twice.
    const big = Array.from({ length: 10 }, (_, g) => `big-${g}`);
    for (const group of big) for (let i = 0; i < 100_000; i += 1) await groups.join(group, `${group}-${i}`, T0);
    const key = { sub: 'op', key: 'k', fingerprint: 'f' };

    expect(await jobs.create(specOf({ targets: { agents: ['one-more'], groups: big } }), key)).toEqual({
      outcome: 'too_many_targets',
      counted: MAX_JOB_TARGETS + 1,
    });

    expect(jobs.book.jobs.size).toBe(0);
    expect(jobs.book.jobIdempotency.size).toBe(0);
    const made = await jobs.create(specOf({ targets: { agents: [], groups: big } }), key);
    expect(made).toMatchObject({ outcome: 'created', job: { counts: { pending: MAX_JOB_TARGETS } } });
  }, 60_000);
});

describe('executions made in the agent poll', () => {
  it('makes an execution once, at its first delivery, after the commands already queued', async () => {
    const { commands, jobs } = stores();
    await commands.enqueue({ commandId: 'c-1', agentId: 'a1', command: 'ls', args: {}, createdAt: T0, expiresAt: T0 + TTL });
    await jobs.create(specOf({ targets: { agents: ['a1', 'a2'], groups: [] }, timeoutMs: 60_000 }));

    const full = await commands.fetch('a1', 1, T0 + 1);
    const first = await commands.fetch('a1', 10, T0 + 2);
    const again = await commands.fetch('a1', 10, T0 + 3);

    expect(full.map((r) => r.commandId)).toEqual(['c-1']);
    expect(first.map((r) => [r.commandId, r.jobId, r.deliveryCount])).toEqual([
      ['c-1', undefined, 2],
      ['job-1', 'job-1', 1],
    ]);
    expect(first[1]).toMatchObject({
      agentId: 'a1',
      command: 'restart',
      args: { service: 'nginx' },
      deliveredAt: T0 + 2,
      deadlineAt: T0 + 60_002,
    });
    expect(again.map((r) => [r.commandId, r.deliveryCount])).toEqual([
      ['c-1', 3],
      ['job-1', 2],
    ]);
    expect((await jobs.get('job-1', T0 + 3))?.counts).toEqual(counts({ pending: 1, delivered: 1 }));
    const listed = await commands.list('a1', { statuses: undefined, limit: 10, after: 0 }, T0 + 3);
    expect(listed.records.map((r) => r.commandId)).toEqual(['c-1', 'job-1']);
  });

  it('takes candidate jobs by creation, whether the agent is named or reached through a group', async () => {
    const { commands, groups, jobs } = stores();
    await groups.join('web', 'a1', T0);
    await jobs.create(specOf({ jobId: 'job-by-group', targets: { agents: [], groups: ['web'] } }));
    await jobs.create(specOf({ jobId: 'job-by-name', targets: { agents: ['a1'], groups: [] } }));

    expect((await commands.fetch('a1', 1, T0 + 1)).map((r) => r.commandId)).toEqual(['job-by-group']);
    expect((await commands.fetch('a1', 2, T0 + 2)).map((r) => r.commandId)).toEqual(['job-by-group', 'job-by-name']);
  });

  it('gives nothing to an agent the job does not target', async () => {
    const { commands, jobs } = stores();
    await jobs.create(specOf({ targets: { agents: ['a1'], groups: [] } }));

    expect(await commands.fetch('a2', 10, T0 + 1)).toEqual([]);
  });

  it('hands out several jobs oldest first, as many as the page has room for', async () => {
    const { commands, jobs } = stores();
    for (const jobId of ['job-b', 'job-a', 'job-c']) await jobs.create(specOf({ jobId, targets: { agents: ['a1'], groups: [] } }));

    const page = await commands.fetch('a1', 2, T0 + 1);
    const rest = await commands.fetch('a1', 10, T0 + 2);

    expect(page.map((r) => r.commandId)).toEqual(['job-b', 'job-a']);
    expect(rest.map((r) => r.commandId)).toEqual(['job-b', 'job-a', 'job-c']);
  });

  it('delivers nothing after the expiry, and counts the undelivered targets expired', async () => {
    const { commands, jobs } = stores();
    await jobs.create(specOf({ targets: { agents: ['a1', 'a2'], groups: [] } }));
    await commands.fetch('a1', 1, T0 + 1);

    expect(await commands.fetch('a2', 1, T0 + TTL)).toEqual([]);
    expect(await jobs.get('job-1', T0 + TTL)).toMatchObject({ status: 'completed', completedAt: T0 + TTL, counts: counts({ expired: 2 }) });
  });
});

describe('rollout', () => {
  it('delivers at most max_per_minute first deliveries in any sliding minute', async () => {
    const { commands, jobs, clock } = stores();
    const agents = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    await jobs.create(specOf({ targets: { agents, groups: [] }, rollout: { maxPerMinute: 2 } }));
    const pollAll = async () => {
      const got: string[] = [];
      for (const agent of agents) if ((await commands.fetch(agent, 1, clock.now())).some((r) => r.deliveryCount === 1)) got.push(agent);
      return got;
    };

    clock.set(T0 + 1_000);
    const first = await pollAll();
    clock.advance(59_999);
    const justBefore = await pollAll();
    clock.advance(1);
    const minuteLater = await pollAll();

    expect(first).toEqual(['a1', 'a2']);
    expect(justBefore).toEqual([]);
    expect(minuteLater).toEqual(['a3', 'a4']);
    expect((await jobs.get('job-1', clock.now()))?.counts).toEqual(counts({ pending: 2, delivered: 4 }));
  });
});

describe('abort', () => {
  const guarded = specOf({
    targets: { agents: ['a1', 'a2', 'a3', 'a4'], groups: [] },
    abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] },
  });

  it('aborts at the report that crosses the threshold: nothing undelivered goes out, even at that instant', async () => {
    const { commands, jobs } = stores();
    await jobs.create(guarded);
    for (const agent of ['a1', 'a2']) await commands.fetch(agent, 1, T0 + 1);
    await commands.complete('a1', 'job-1', result('failed', T0 + 10));
    expect((await jobs.get('job-1', T0 + 10))?.status).toBe('in_progress');

    expect(await commands.complete('a2', 'job-1', result('failed', T0 + 20))).toEqual({ outcome: 'accepted', status: 'failed' });
    const polled = await commands.fetch('a3', 1, T0 + 20);

    expect(polled).toEqual([]);
    const job = await jobs.get('job-1', T0 + 30);
    expect(job).toMatchObject({ status: 'aborted', completedAt: T0 + 20, counts: counts({ failed: 2, canceled: 2 }) });
    expect(job?.end).toMatchObject({ status: 'aborted', at: T0 + 20, reason: 'job_aborted' });
    const page = await jobs.executions('job-1', { statuses: ['canceled'], limit: 10, after: 0 }, T0 + 30);
    expect(page?.executions.map((e) => [e.agentId, e.cancelReason])).toEqual([
      ['a3', 'job_aborted'],
      ['a4', 'job_aborted'],
    ]);
  });

  it('lets executions delivered before the abort run on and report', async () => {
    const { commands, jobs } = stores();
    await jobs.create(guarded);
    for (const agent of ['a1', 'a2', 'a3']) await commands.fetch(agent, 1, T0 + 1);
    await commands.complete('a1', 'job-1', result('failed', T0 + 10));
    await commands.complete('a2', 'job-1', result('rejected', T0 + 11));

    expect(await commands.complete('a3', 'job-1', result('completed', T0 + 12))).toEqual({ outcome: 'accepted', status: 'completed' });
    expect((await jobs.get('job-1', T0 + 12))?.counts).toEqual(counts({ failed: 1, rejected: 1, completed: 1, canceled: 1 }));
  });

  it('writes an abort a timeout reached at the next poll, which then delivers nothing', async () => {
    const { commands, jobs } = stores();
    await jobs.create({ ...guarded, timeoutMs: 1_000 });
    for (const agent of ['a1', 'a2']) await commands.fetch(agent, 1, T0 + 1);

    const justBefore = await commands.fetch('a3', 1, T0 + 1_000);
    const atTheDeadline = await commands.fetch('a4', 1, T0 + 1_001);

    expect(justBefore.map((r) => r.commandId)).toEqual(['job-1']);
    expect(atTheDeadline).toEqual([]);
    const job = await jobs.get('job-1', T0 + 1_500);
    expect(job).toMatchObject({ status: 'aborted', counts: counts({ timed_out: 2, delivered: 1, canceled: 1 }) });
    expect(job?.end?.at).toBe(T0 + 1_001);
  });

  it('writes the abort at the instant of the crossing report, without waiting for another step', async () => {
    const { commands, jobs } = stores();
    await jobs.create(guarded);
    for (const agent of ['a1', 'a2']) await commands.fetch(agent, 1, T0 + 1);
    await commands.complete('a1', 'job-1', result('failed', T0 + 10));
    await commands.complete('a2', 'job-1', result('completed', T0 + 20));

    expect(await jobs.get('job-1', T0 + 500)).toMatchObject({ status: 'aborted', completedAt: T0 + 20, end: { at: T0 + 20 } });
  });

  it('refuses a cancel once a timeout reached the threshold, and writes that abort at the cancel', async () => {
    const { commands, jobs } = stores();
    await jobs.create({ ...guarded, timeoutMs: 1_000 });
    for (const agent of ['a1', 'a2']) await commands.fetch(agent, 1, T0 + 1);

    const refused = await jobs.cancel('job-1', { reason: undefined, force: true, at: T0 + 1_500 });

    expect(refused).toMatchObject({ outcome: 'refused', job: { status: 'aborted', end: { status: 'aborted', at: T0 + 1_500 } } });
    expect(refused.outcome === 'refused' && refused.job.counts).toEqual(counts({ timed_out: 2, canceled: 2 }));
  });
});

describe('cancel', () => {
  const three = specOf({ targets: { agents: ['a1', 'a2', 'a3'], groups: [] } });

  it('without force cancels the undelivered targets and lets the delivered one finish; a second cancel is refused', async () => {
    const { commands, jobs } = stores();
    await jobs.create(three);
    await commands.fetch('a1', 1, T0 + 1);

    const canceled = await jobs.cancel('job-1', { reason: 'wrong build', force: false, at: T0 + 5 });

    expect(canceled).toMatchObject({ outcome: 'accepted', job: { status: 'canceled', counts: counts({ delivered: 1, canceled: 2 }) } });
    expect(await commands.fetch('a2', 1, T0 + 6)).toEqual([]);
    expect(await commands.complete('a1', 'job-1', result('completed', T0 + 7))).toEqual({ outcome: 'accepted', status: 'completed' });
    expect((await jobs.get('job-1', T0 + 8))?.counts).toEqual(counts({ completed: 1, canceled: 2 }));
    const again = await jobs.cancel('job-1', { reason: undefined, force: true, at: T0 + 9 });
    expect(again).toMatchObject({ outcome: 'refused', job: { status: 'canceled' } });
    const page = await jobs.executions('job-1', all, T0 + 9);
    expect(page?.executions.map((e) => [e.agentId, e.status, e.cancelReason])).toEqual([
      ['a1', 'completed', undefined],
      ['a2', 'canceled', 'wrong build'],
      ['a3', 'canceled', 'wrong build'],
    ]);
  });

  it('with force cancels delivered executions too: the agent learns it from a refused report, and nothing is redelivered', async () => {
    const { commands, jobs } = stores();
    await jobs.create(three);
    await commands.fetch('a1', 1, T0 + 1);
    await commands.fetch('a2', 1, T0 + 1);
    await commands.complete('a2', 'job-1', result('completed', T0 + 2));

    const canceled = await jobs.cancel('job-1', { reason: undefined, force: true, at: T0 + 5 });

    expect(canceled).toMatchObject({ job: { status: 'canceled', counts: counts({ completed: 1, canceled: 2 }) } });
    expect(await commands.fetch('a1', 10, T0 + 6)).toEqual([]);
    expect(await commands.complete('a1', 'job-1', result('completed', T0 + 7))).toEqual({ outcome: 'refused', status: 'canceled' });
    expect(await commands.get('a1', 'job-1')).toMatchObject({
      resultStatus: 'canceled',
      completedAt: T0 + 5,
      cancelReason: 'job_canceled',
    });
    expect((await jobs.get('job-1', T0 + TTL + 1))?.counts).toEqual(counts({ completed: 1, canceled: 2 }));
  });

  it('cancels one execution as any command, counted in the job', async () => {
    const { commands, jobs } = stores();
    await jobs.create(three);
    await commands.fetch('a1', 1, T0 + 1);

    const single = await commands.cancel('a1', 'job-1', { reason: 'stuck', at: T0 + 3 });

    expect(single.outcome).toEqual({ outcome: 'accepted', status: 'canceled' });
    expect(await jobs.get('job-1', T0 + 4)).toMatchObject({ status: 'in_progress', counts: counts({ pending: 2, canceled: 1 }) });
  });

  it('answers not_found for a job it does not know', async () => {
    const { jobs } = stores();

    expect(await jobs.cancel('nope', { reason: undefined, force: false, at: T0 })).toEqual({ outcome: 'not_found' });
    expect(await jobs.get('nope', T0)).toBeUndefined();
    expect(await jobs.executions('nope', all, T0)).toBeUndefined();
  });
});

describe('groups and targets', () => {
  it('adds an agent joining a group of a continuous job in progress as its next target; a snapshot job ignores it', async () => {
    const { commands, groups, jobs } = stores();
    await groups.join('web', 'w5', T0);
    await jobs.create(specOf({ jobId: 'job-c', continuous: true, targets: { agents: [], groups: ['web'] } }));
    await jobs.create(specOf({ jobId: 'job-s', targets: { agents: [], groups: ['web'] } }));

    await groups.join('web', 'w1', T0 + 10);
    const got = await commands.fetch('w1', 10, T0 + 20);

    expect(got.map((r) => r.commandId)).toEqual(['job-c']);
    expect((await jobs.executions('job-c', all, T0 + 20))?.executions.map((e) => [e.agentId, e.status])).toEqual([
      ['w5', 'pending'],
      ['w1', 'delivered'],
    ]);
    expect((await jobs.get('job-c', T0 + 20))?.counts).toEqual(counts({ pending: 1, delivered: 1 }));
    expect((await jobs.get('job-s', T0 + 20))?.counts).toEqual(counts({ pending: 1 }));
  });

  it('adds no target to a continuous job that has ended', async () => {
    const { commands, groups, jobs } = stores();
    await jobs.create(specOf({ continuous: true, targets: { agents: [], groups: ['web'] } }));
    await jobs.cancel('job-1', { reason: undefined, force: false, at: T0 + 1 });

    await groups.join('web', 'w1', T0 + 2);

    expect(await commands.fetch('w1', 10, T0 + 3)).toEqual([]);
    expect((await jobs.get('job-1', T0 + 3))?.counts).toEqual(counts({}));
  });

  it('still delivers to a target that left the group before its delivery, and cancels nothing on a leave', async () => {
    const { commands, groups, jobs } = stores();
    for (const agent of ['w1', 'w2']) await groups.join('web', agent, T0);
    await jobs.create(specOf({ targets: { agents: [], groups: ['web'] } }));
    await commands.fetch('w2', 1, T0 + 1);

    await groups.leave('web', 'w1');
    await groups.leave('web', 'w2');
    const late = await commands.fetch('w1', 10, T0 + 2);
    const running = await commands.fetch('w2', 10, T0 + 2);

    expect(late.map((r) => [r.commandId, r.deliveryCount])).toEqual([['job-1', 1]]);
    expect(running.map((r) => [r.commandId, r.deliveryCount])).toEqual([['job-1', 2]]);
    expect((await jobs.get('job-1', T0 + 2))?.counts).toEqual(counts({ delivered: 2 }));
  });
});

describe('listing', () => {
  it('lists jobs newest first by status, a page at a time', async () => {
    const { jobs } = stores();
    for (const jobId of ['j1', 'j2', 'j3', 'j4']) await jobs.create(specOf({ jobId, targets: { agents: ['a1'], groups: [] } }));
    await jobs.cancel('j3', { reason: undefined, force: false, at: T0 + 1 });

    const first = await jobs.list({ statuses: ['in_progress'], limit: 2, before: 0 }, T0 + 2);
    const second = await jobs.list({ statuses: ['in_progress'], limit: 2, before: first.nextBefore ?? -1 }, T0 + 2);

    expect(first.jobs.map((j) => j.spec.jobId)).toEqual(['j4', 'j2']);
    expect(second).toMatchObject({ jobs: [{ spec: { jobId: 'j1' } }], nextBefore: undefined });
  });

  it('pages executions in target order with a cursor that is the offset after the page', async () => {
    const { jobs } = stores();
    await jobs.create(specOf({ targets: { agents: ['a3', 'a1', 'a2', 'a4'], groups: [] } }));

    const first = await jobs.executions('job-1', { statuses: undefined, limit: 3, after: 0 }, T0);
    const second = await jobs.executions('job-1', { statuses: undefined, limit: 3, after: first?.nextAfter ?? -1 }, T0);

    expect(first).toMatchObject({ nextAfter: 3 });
    expect(first?.executions.map((e) => e.agentId)).toEqual(['a1', 'a2', 'a3']);
    expect(second).toMatchObject({ executions: [{ agentId: 'a4' }], nextAfter: undefined });
  });
});

describe('counts', () => {
  it('equal a recount of the executions at every step of a mixed history, timeouts and the expiry included', async () => {
    const { commands, groups, jobs, clock } = stores((2 * TTL) / 1000); // every record kept past the expiry
    const agents = Array.from({ length: 12 }, (_, i) => `a${String(i).padStart(2, '0')}`);
    for (const agent of agents.slice(0, 8)) await groups.join('g', agent, T0);
    await jobs.create(
      specOf({
        continuous: true,
        timeoutMs: 30_000,
        targets: { agents: agents.slice(6, 10), groups: ['g'] },
        rollout: { maxPerMinute: 5 },
      }),
    );
    const check = async () => {
      const job = await jobs.get('job-1', clock.now());
      const page = await jobs.executions('job-1', all, clock.now());
      const recount: Record<CommandStatus, number> = { ...counts({}) };
      for (const execution of page?.executions ?? []) recount[execution.status] += 1;
      expect(job?.counts, `at +${clock.now() - T0}`).toEqual(recount);
    };
    const steps: (() => Promise<unknown>)[] = [];
    for (const [i, agent] of agents.entries()) {
      steps.push(() => commands.fetch(agent, 1, clock.now()));
      if (i % 3 === 0) steps.push(() => commands.complete(agent, 'job-1', result(i % 2 ? 'failed' : 'completed', clock.now())));
      if (i % 4 === 1)
        steps.push(() =>
          commands.complete(agent, 'job-1', { status: 'in_progress', statusDetailsJson: undefined, timeoutMs: 5_000, at: clock.now() }),
        );
      if (i === 10) steps.push(() => groups.join('g', 'late', clock.now()));
    }
    steps.push(() => commands.cancel('a02', 'job-1', { reason: undefined, at: clock.now() }));
    steps.push(() => commands.fetch('late', 1, clock.now()));
    for (const step of steps) {
      await step();
      await check();
      clock.advance(7_000);
    }
    for (const at of [T0 + TTL - 1, T0 + TTL]) {
      clock.set(at);
      await check();
    }
  });
});

describe('the runtime', () => {
  it('builds the memory stores over one state: a job made through its jobs reaches an agent through its commands', async () => {
    const runtime = createRuntime(loadConfig({ ...TEST_ENV }), { clock: new ManualClock(T0) });
    const { commands, groups, jobs } = runtime.stores.unchecked;
    await groups.join('web', 'a1', T0);
    await jobs.create(specOf({ targets: { agents: [], groups: ['web'] } }));

    expect((await commands.fetch('a1', 1, T0 + 1)).map((r) => r.jobId)).toEqual(['job-1']);
  });

  it('runs on the memory stores passed in, over their one state', async () => {
    const config = loadConfig({ ...TEST_ENV });
    const { commands, groups, jobs } = stores();
    const revocations = new MemoryRevocationStore(() => Math.floor(T0 / 1000));
    const runtime = createRuntime(config, { stores: memoryBackend({ commands, groups, jobs, revocations }) });
    await runtime.stores.unchecked.jobs.create(specOf({ targets: { agents: ['a1'], groups: [] } }));

    expect((await commands.fetch('a1', 1, T0 + 1)).map((r) => r.jobId)).toEqual(['job-1']);
  });
});
