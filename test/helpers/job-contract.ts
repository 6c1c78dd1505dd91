/**
 * The behaviour every JobStore must show, with the command and group stores it shares its state
 * with, written once and run against each implementation (in-memory, and Upstash through the
 * bridge to a real Redis): targeting, snapshot and continuous jobs, the rollout and abort brakes
 * at their very instant, cancel with and without force, counts against a recount of the
 * executions listing at every step, listings and their cursors, idempotent creation; and the
 * agent's side of it through the real handlers.
 *
 * Times: the stores take `now` from the caller; every case moves the runtime's ManualClock
 * (started at the wall clock, so Redis TTLs built from it are realistic) and passes its time.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { COMMAND_STATUSES, type CommandRecord, type CommandStatus, type Report } from '../../lib/commands/model.ts';
import type { JoinOutcome } from '../../lib/groups/membership.ts';
import type { ExecutionEntry, JobCounts, JobSnapshot, JobSpec } from '../../lib/jobs/model.ts';
import { ABORT_REASON, executionRecord, JOB_CANCEL_REASON, SCHEDULE_END_REASON } from '../../lib/jobs/rules.ts';
import type { JobStore } from '../../lib/store/types.ts';
import { invoke } from './lambda.ts';
import type { StoreTarget, TestRuntime } from './targets.ts';
import { signToken } from './tokens.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Every count zero but those given. */
export function counts(some: Partial<JobCounts>): JobCounts {
  return Object.fromEntries(COMMAND_STATUSES.map((status) => [status, some[status] ?? 0])) as JobCounts;
}

/** Every target of the job at `now`, page by page (`limit` a page), with `between` run after each page. */
export async function allExecutions(
  jobs: JobStore,
  jobId: string,
  now: number,
  limit = 3,
  between: (page: number) => Promise<void> = async () => {},
  statuses?: readonly CommandStatus[],
): Promise<ExecutionEntry[]> {
  const entries: ExecutionEntry[] = [];
  let after = 0;
  for (let page = 1; page < 100_000; page += 1) {
    const answer = await jobs.executions(jobId, { statuses, limit, after }, now);
    if (answer === undefined) throw new Error(`no job ${jobId} to list the executions of`);
    expect(answer.executions.length).toBeLessThanOrEqual(limit);
    entries.push(...answer.executions);
    if (answer.nextAfter === undefined) return entries;
    expect(answer.nextAfter, 'the cursor moves forward').toBeGreaterThan(after);
    after = answer.nextAfter;
    await between(page);
  }
  throw new Error('the executions listing did not end');
}

/** The counts a walk of the executions listing gives. */
export function recount(entries: readonly ExecutionEntry[]): JobCounts {
  const tally: Record<CommandStatus, number> = counts({});
  for (const entry of entries) tally[entry.status] += 1;
  return tally;
}

/**
 * The job at `now`, after checking that its counts equal a recount of its executions listing
 * (and, with `expected`, those counts exactly).
 */
export async function checkedJob(jobs: JobStore, jobId: string, now: number, expected?: Partial<JobCounts>): Promise<JobSnapshot> {
  const job = await jobs.get(jobId, now);
  if (job === undefined) throw new Error(`no job ${jobId}`);
  const entries = await allExecutions(jobs, jobId, now, 4);
  expect(job.counts, `counts of ${jobId} against a recount of its executions at +${now}`).toStrictEqual(recount(entries));
  // A second read at the same instant gives the same job (the first may have written an abort).
  expect(await jobs.get(jobId, now)).toStrictEqual(job);
  if (expected !== undefined) expect(job.counts).toStrictEqual(counts(expected));
  return job;
}

/** The largest number of `times` inside one sliding minute (s, s + 60 s]. */
export function mostInAnyMinute(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end += 1) {
    while ((sorted[start] as number) <= (sorted[end] as number) - MINUTE) start += 1;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

/** Fresh ids, with characters the id rules allow (':' and '@' included). */
const fresh = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

/** The world a case works in: the installed runtime, its stores and its clock. */
interface World {
  readonly rt: TestRuntime;
  readonly jobs: JobStore;
  readonly t0: number;
  now(): number;
  /** Moves the clock to t0 + ms. */
  at(ms: number): number;
  spec(targets: { agents?: string[]; groups?: string[] }, extra?: Partial<JobSpec>): JobSpec;
  create(targets: { agents?: string[]; groups?: string[] }, extra?: Partial<JobSpec>): Promise<JobSnapshot>;
  poll(agentId: string, limit?: number): Promise<CommandRecord[]>;
  /** The command ids one poll hands out. */
  polled(agentId: string, limit?: number): Promise<string[]>;
  report(agentId: string, commandId: string, status: 'completed' | 'failed' | 'rejected'): Promise<string>;
  progress(agentId: string, commandId: string, timeoutMs?: number): Promise<string>;
  join(group: string, agentId: string): Promise<JoinOutcome>;
  leave(group: string, agentId: string): Promise<unknown>;
  check(jobId: string, expected?: Partial<JobCounts>): Promise<JobSnapshot>;
  listed(jobId: string): Promise<ExecutionEntry[]>;
}

/** An outcome as one word, with the state when refused ("refused canceled"). */
function said(outcome: { outcome: string; status?: string }): string {
  return outcome.outcome === 'refused' ? `refused ${outcome.status}` : outcome.outcome;
}

function worldOn(target: StoreTarget): World {
  const rt = target.use();
  const { commands, groups, jobs } = rt.stores.unchecked;
  const t0 = rt.clock.now();
  const now = () => rt.clock.now();
  const spec = (targets: { agents?: string[]; groups?: string[] }, extra: Partial<JobSpec> = {}): JobSpec => ({
    jobId: randomUUID(),
    command: 'restart',
    args: { service: 'nginx' },
    targets: { agents: targets.agents ?? [], groups: targets.groups ?? [] },
    createdAt: now(),
    expiresAt: now() + HOUR,
    continuous: false,
    ...extra,
  });
  return {
    rt,
    jobs,
    t0,
    now,
    at: (ms) => {
      rt.clock.set(t0 + ms);
      return t0 + ms;
    },
    spec,
    create: async (targets, extra) => {
      const answer = await jobs.create(spec(targets, extra));
      if (answer.outcome !== 'created') throw new Error(`create answered ${answer.outcome}`);
      return answer.job;
    },
    poll: (agentId, limit = 10) => commands.fetch(agentId, limit, now()),
    polled: async (agentId, limit = 10) => (await commands.fetch(agentId, limit, now())).map((record) => record.commandId),
    report: async (agentId, commandId, status) =>
      said(await commands.complete(agentId, commandId, { status, resultJson: undefined, completedAt: now() })),
    progress: async (agentId, commandId, timeoutMs) => {
      const update: Report = { status: 'in_progress', statusDetailsJson: undefined, timeoutMs, at: now() };
      return said(await commands.complete(agentId, commandId, update));
    },
    join: (group, agentId) => groups.join(group, agentId, now()),
    leave: (group, agentId) => groups.leave(group, agentId),
    check: (jobId, expected) => checkedJob(jobs, jobId, now(), expected),
    listed: (jobId) => allExecutions(jobs, jobId, now()),
  };
}

const byAgent = (entries: readonly ExecutionEntry[]) => entries.map((entry) => entry.agentId);
const statusesOf = (entries: readonly ExecutionEntry[]) => Object.fromEntries(entries.map((entry) => [entry.agentId, entry.status]));

export function jobContract(target: StoreTarget): void {
  const { name } = target;
  describe(`${name}: job store contract`, () => {
    let w: World;
    beforeEach(() => {
      w = worldOn(target);
    });

    describe('targeting', () => {
      it('gives an agent reached through several agents and groups one execution, listed in target order', async () => {
        const [a, b, c, d, outsider] = ['a', 'b', 'c', 'd', 'z'].map((letter) => fresh(`${letter}:node@1`)) as [
          string,
          string,
          string,
          string,
          string,
        ];
        const [g1, g2] = [fresh('web:eu'), fresh('web%3Aeu')];
        for (const [group, agent] of [
          [g1, b],
          [g1, c],
          [g2, c],
          [g2, d],
        ] as const)
          await w.join(group, agent);

        const job = await w.create({ agents: [d, a, b, a], groups: [g1, g2] });

        expect(job.status).toBe('in_progress');
        expect(job.counts).toStrictEqual(counts({ pending: 4 }));
        expect(byAgent(await w.listed(job.spec.jobId))).toEqual([a, b, c, d].sort());
        w.at(1_000);
        for (const agent of [a, b, c, d]) {
          const records = await w.poll(agent);
          expect(records).toStrictEqual([executionRecord(job.spec, agent, w.t0 + 1_000)]);
          expect(records[0]?.jobId).toBe(job.spec.jobId);
        }
        w.at(2_000);
        for (const agent of [a, b, c, d]) {
          const again = await w.poll(agent);
          expect(again.map((record) => [record.commandId, record.deliveryCount, record.deliveredAt])).toEqual([
            [job.spec.jobId, 2, w.t0 + 1_000],
          ]);
        }
        expect(await w.poll(outsider)).toEqual([]);
        const checked = await w.check(job.spec.jobId, { delivered: 4 });
        expect(checked.status).toBe('in_progress');
        const listed = await w.listed(job.spec.jobId);
        expect(byAgent(listed)).toEqual([a, b, c, d].sort());
        expect(listed.every((entry) => entry.record?.commandId === job.spec.jobId && entry.record.deliveryCount === 2)).toBe(true);
      });

      it('refuses a job whose targets resolve to no agent (no_targets) and keeps nothing, not even its key; a continuous one may start empty', async () => {
        const [empty, left, agent] = [fresh('empty'), fresh('left'), fresh('agent')];
        await w.join(left, agent);
        await w.leave(left, agent);
        const key = { sub: 'op', key: fresh('k'), fingerprint: 'f' };

        expect(await w.jobs.create(w.spec({ groups: [empty, left] }), key)).toEqual({ outcome: 'no_targets' });

        expect((await w.jobs.list({ statuses: undefined, limit: 10, before: 0 }, w.now())).jobs).toEqual([]);
        await w.join(empty, agent);
        const made = await w.jobs.create(w.spec({ groups: [empty, left] }), key);
        expect(made).toMatchObject({ outcome: 'created', job: { counts: counts({ pending: 1 }) } });
        const continuous = await w.create({ groups: [fresh('none')] }, { continuous: true });
        expect(continuous).toMatchObject({ status: 'in_progress', counts: counts({}) });
      });

      it('answers undefined, no page and not_found for a job that does not exist', async () => {
        const jobId = randomUUID();
        expect(await w.jobs.get(jobId, w.now())).toBeUndefined();
        expect(await w.jobs.executions(jobId, { statuses: undefined, limit: 10, after: 0 }, w.now())).toBeUndefined();
        expect(await w.jobs.cancel(jobId, { reason: undefined, force: false, at: w.now() })).toEqual({ outcome: 'not_found' });
      });
    });

    describe('snapshot and continuous', () => {
      it('a snapshot job: an agent that joins the group afterwards is no target and gets nothing', async () => {
        const group = fresh('g');
        const [a, b, late] = [fresh('a'), fresh('b'), fresh('late')];
        await w.join(group, a);
        await w.join(group, b);
        const job = await w.create({ groups: [group] });
        w.at(1_000);
        expect(await w.join(group, late)).toBe('added');

        expect(await w.poll(late)).toEqual([]);
        expect(byAgent(await w.listed(job.spec.jobId))).toEqual([a, b].sort());
        await w.check(job.spec.jobId, { pending: 2 });
      });

      it('a continuous job: an agent that joins afterwards gets one execution, listed after the creation targets', async () => {
        const [g1, g2] = [fresh('g'), fresh('h')];
        const [a, b, late] = [fresh('b'), fresh('a'), fresh('0-late')];
        await w.join(g1, a);
        await w.join(g2, b);
        const job = await w.create({ groups: [g1, g2] }, { continuous: true });
        w.at(1_000);

        await w.join(g1, late);
        await w.join(g2, late); // through the second group too: still one target
        await w.check(job.spec.jobId, { pending: 3 });
        expect(await w.polled(late)).toEqual([job.spec.jobId]);
        expect(await w.polled(late)).toEqual([job.spec.jobId]);

        expect(byAgent(await w.listed(job.spec.jobId))).toEqual([...[a, b].sort(), late]);
        const checked = await w.check(job.spec.jobId, { pending: 2, delivered: 1 });
        expect(checked.status).toBe('in_progress');
      });

      it('a continuous job takes no new targets once it has ended', async () => {
        const group = fresh('g');
        const [a, late] = [fresh('a'), fresh('late')];
        await w.join(group, a);
        const job = await w.create({ groups: [group] }, { continuous: true });
        w.at(1_000);
        expect((await w.jobs.cancel(job.spec.jobId, { reason: undefined, force: false, at: w.now() })).outcome).toBe('accepted');
        w.at(2_000);

        await w.join(group, late);

        expect(await w.poll(late)).toEqual([]);
        expect(byAgent(await w.listed(job.spec.jobId))).toEqual([a]);
        await w.check(job.spec.jobId, { canceled: 1 });
      });

      it('leaving a group keeps what the agent has, and a target that left before delivery still gets it', async () => {
        const group = fresh('g');
        const [stays, leftEarly, leftLate, joinedAndLeft] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')];
        for (const agent of [stays, leftEarly, leftLate]) await w.join(group, agent);
        const job = await w.create({ groups: [group] }, { continuous: true });
        w.at(1_000);
        expect(await w.polled(leftLate)).toEqual([job.spec.jobId]);
        await w.join(group, joinedAndLeft);
        w.at(2_000);
        await w.leave(group, leftEarly);
        await w.leave(group, leftLate);
        await w.leave(group, joinedAndLeft);
        await w.check(job.spec.jobId, { pending: 3, delivered: 1 });

        w.at(3_000);
        expect(await w.polled(leftEarly)).toEqual([job.spec.jobId]);
        expect(await w.polled(joinedAndLeft)).toEqual([job.spec.jobId]);
        expect(await w.poll(leftLate)).toEqual([expect.objectContaining({ commandId: job.spec.jobId, deliveryCount: 2 })]);
        expect(await w.report(leftLate, job.spec.jobId, 'completed')).toBe('accepted');
        await w.check(job.spec.jobId, { pending: 1, delivered: 2, completed: 1 });
        // Joining again after leaving gives no second execution.
        await w.join(group, leftEarly);
        expect(await w.poll(leftEarly)).toEqual([expect.objectContaining({ commandId: job.spec.jobId, deliveryCount: 2 })]);
        await w.check(job.spec.jobId, { pending: 1, delivered: 2, completed: 1 });
      });
    });

    describe('rollout', () => {
      it('delivers exactly max_per_minute first deliveries a minute; polls beyond see nothing, no error; redeliveries are free', async () => {
        const agents = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((letter) => `${letter}-${randomUUID().slice(0, 4)}`);
        const job = await w.create({ agents }, { rollout: { maxPerMinute: 3 } });
        const [first, second, third] = [agents.slice(0, 3), agents.slice(3, 6), agents.slice(6)];

        w.at(1_000);
        for (const agent of first) expect(await w.polled(agent)).toEqual([job.spec.jobId]);
        for (const agent of [...second, ...third]) expect(await w.poll(agent)).toEqual([]);
        await w.check(job.spec.jobId, { pending: 4, delivered: 3 });

        w.at(1_000 + MINUTE - 1);
        for (const agent of [...second, ...third]) expect(await w.poll(agent)).toEqual([]);
        for (const agent of first) expect(await w.polled(agent)).toEqual([job.spec.jobId]);

        w.at(1_000 + MINUTE);
        for (const agent of second) expect(await w.polled(agent)).toEqual([job.spec.jobId]);
        for (const agent of third) expect(await w.poll(agent)).toEqual([]);
        await w.check(job.spec.jobId, { pending: 1, delivered: 6 });

        w.at(1_000 + 2 * MINUTE);
        for (const agent of third) expect(await w.polled(agent)).toEqual([job.spec.jobId]);
        const listed = await w.listed(job.spec.jobId);
        const firsts = listed.map((entry) => entry.record?.deliveredAt as number);
        expect(firsts.every((time) => Number.isFinite(time))).toBe(true);
        expect(mostInAnyMinute(firsts)).toBe(3);
        await w.check(job.spec.jobId, { delivered: 7 });
      });

      it('slides: a first delivery leaves the budget exactly one minute after it was made', async () => {
        const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')];
        const job = await w.create({ agents: [a, b, c, d] }, { rollout: { maxPerMinute: 2 } });
        const id = job.spec.jobId;
        w.at(0);
        expect(await w.polled(a)).toEqual([id]);
        w.at(30_000);
        expect(await w.polled(b)).toEqual([id]);
        w.at(MINUTE - 1);
        expect(await w.polled(c)).toEqual([]);
        w.at(MINUTE);
        expect(await w.polled(c)).toEqual([id]);
        expect(await w.polled(d)).toEqual([]);
        w.at(MINUTE + 29_999);
        expect(await w.polled(d)).toEqual([]);
        w.at(MINUTE + 30_000);
        expect(await w.polled(d)).toEqual([id]);
        const times = (await w.listed(id)).map((entry) => entry.record?.deliveredAt as number);
        expect(mostInAnyMinute(times)).toBe(2);
        await w.check(id, { delivered: 4 });
      });

      it('gives exactly the budget to a crowd polling at one instant, and one execution to an agent polling twice at once', async () => {
        const crowd = Array.from({ length: 20 }, (_, i) => `crowd${String(i).padStart(2, '0')}-${randomUUID().slice(0, 4)}`);
        const job = await w.create({ agents: crowd }, { rollout: { maxPerMinute: 5 } });
        const id = job.spec.jobId;
        w.at(1_000);

        const answers = await Promise.all(crowd.map((agent) => w.polled(agent)));
        const twice = await Promise.all([w.poll(crowd[0] as string), w.poll(crowd[0] as string)]);

        const given = crowd.filter((_, i) => answers[i]?.includes(id));
        expect(given).toHaveLength(5);
        expect(answers.every((answer) => answer.length === 0 || (answer.length === 1 && answer[0] === id))).toBe(true);
        const mine = twice.flat().filter((record) => record.commandId === id);
        if (given.includes(crowd[0] as string)) expect(mine.map((record) => record.deliveryCount).sort()).toEqual([2, 3]);
        else expect(mine).toEqual([]);
        await w.check(id, { pending: 15, delivered: 5 });
        expect(byAgent((await w.listed(id)).filter((entry) => entry.record !== undefined))).toEqual([...given].sort());
      });

      it('exponential, notified: the rate steps up at the very delivery that crosses each N, capped by max_per_minute', async () => {
        const agents = Array.from({ length: 8 }, (_, i) => `x${i}-${randomUUID().slice(0, 6)}`);
        const job = await w.create(
          { agents },
          {
            rollout: {
              maxPerMinute: 3,
              exponential: { basePerMinute: 1, incrementFactorTenths: 20, increaseAfter: { kind: 'notified', count: 2 } },
            },
          },
        );
        const id = job.spec.jobId;
        expect(job.perMinute).toBe(1);
        const reached = new Set<string>();
        // How many agents get their first delivery when all poll, one after the other.
        const pollAll = async () => {
          const before = reached.size;
          for (const agent of agents) if ((await w.polled(agent)).includes(id)) reached.add(agent);
          return reached.size - before;
        };
        w.at(1_000);
        expect(await pollAll()).toBe(1);
        expect((await w.check(id, { pending: 7, delivered: 1 })).perMinute).toBe(1);
        // A minute on: the second delivery crosses N = 2, so the rate is 2 at once, and a third goes out in the same minute.
        w.at(1_000 + MINUTE);
        expect(await pollAll()).toBe(2);
        expect((await w.check(id, { pending: 5, delivered: 3 })).perMinute).toBe(2);
        // The fourth crosses 4: 4, capped at 3; three in this minute.
        w.at(1_000 + 2 * MINUTE);
        expect(await pollAll()).toBe(3);
        expect((await w.check(id, { pending: 2, delivered: 6 })).perMinute).toBe(3);
        const times = (await w.listed(id)).flatMap((entry) => (entry.record?.deliveredAt === undefined ? [] : [entry.record.deliveredAt]));
        expect(mostInAnyMinute(times)).toBe(3);
      });

      it('exponential, succeeded: the result that crosses N raises the rate for a poll at that very instant', async () => {
        const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')];
        const job = await w.create(
          { agents: [a, b, c, d] },
          { rollout: { exponential: { basePerMinute: 1, incrementFactorTenths: 30, increaseAfter: { kind: 'succeeded', count: 1 } } } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.poll(b)).toEqual([]);
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        expect(await w.poll(b)).toEqual([]);
        w.at(2_000);
        expect(await w.poll(b)).toEqual([]);
        // Delivered in the window: a alone; a success raises the rate to 3.
        const other = await w.create(
          { agents: [c, d] },
          { rollout: { exponential: { basePerMinute: 1, incrementFactorTenths: 30, increaseAfter: { kind: 'succeeded', count: 1 } } } },
        );
        expect(await w.polled(c)).toEqual([other.spec.jobId]);
        expect(await w.report(c, other.spec.jobId, 'completed')).toBe('accepted');
        expect(await w.polled(d)).toEqual([other.spec.jobId]);
        expect((await w.check(other.spec.jobId, { delivered: 1, completed: 1 })).perMinute).toBe(3);
        expect((await w.check(id, { pending: 3, failed: 1 })).perMinute).toBe(1);
      });

      it('counts the budget per job: another job of the same agents has its own', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const one = await w.create({ agents: [a, b] }, { rollout: { maxPerMinute: 1 } });
        const two = await w.create({ agents: [a, b] }, { rollout: { maxPerMinute: 1 } });
        w.at(1_000);
        expect(await w.polled(a)).toEqual([one.spec.jobId, two.spec.jobId]);
        expect(await w.poll(b)).toEqual([]);
        await w.check(one.spec.jobId, { pending: 1, delivered: 1 });
        await w.check(two.spec.jobId, { pending: 1, delivered: 1 });
      });
    });

    describe('abort', () => {
      it('the result that crosses the threshold aborts the job at its instant: nothing undelivered is delivered, even at that instant', async () => {
        const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((letter) => `${letter}-${randomUUID().slice(0, 6)}`) as [
          string,
          string,
          string,
          string,
          string,
        ];
        const job = await w.create(
          { agents: [a, b, c, d, e] },
          { abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        for (const agent of [a, b, c]) expect(await w.polled(agent)).toEqual([id]);
        w.at(2_000);
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        expect((await w.check(id, { pending: 2, delivered: 2, failed: 1 })).status).toBe('in_progress');

        w.at(3_000);
        expect(await w.report(b, id, 'rejected')).toBe('accepted');
        expect(await w.poll(d)).toEqual([]);
        expect(await w.poll(e)).toEqual([]);

        const aborted = await w.check(id, { delivered: 1, failed: 1, rejected: 1, canceled: 2 });
        expect(aborted).toMatchObject({ status: 'aborted', completedAt: w.t0 + 3_000 });
        expect(aborted.end).toMatchObject({ status: 'aborted', at: w.t0 + 3_000, reason: ABORT_REASON, force: false });
        const listed = await w.listed(id);
        expect(statusesOf(listed)).toEqual({ [a]: 'failed', [b]: 'rejected', [c]: 'delivered', [d]: 'canceled', [e]: 'canceled' });
        expect(listed.filter((entry) => entry.status === 'canceled').map((entry) => [entry.record, entry.cancelReason])).toEqual([
          [undefined, ABORT_REASON],
          [undefined, ABORT_REASON],
        ]);

        // The delivered one continues: redelivered, and its result is taken.
        w.at(4_000);
        expect(await w.poll(c)).toEqual([expect.objectContaining({ commandId: id, deliveryCount: 2 })]);
        expect(await w.report(c, id, 'completed')).toBe('accepted');
        expect(await w.poll(d)).toEqual([]);
        w.at(9_000);
        const later = await w.check(id, { completed: 1, failed: 1, rejected: 1, canceled: 2 });
        expect(later).toMatchObject({ status: 'aborted', completedAt: w.t0 + 3_000 });
        expect(await w.jobs.cancel(id, { reason: 'too late', force: true, at: w.now() })).toMatchObject({
          outcome: 'refused',
          job: { status: 'aborted' },
        });
      });

      it('counts a timeout as a failure at its very instant: the next poll there delivers nothing and writes the abort', async () => {
        const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
        const job = await w.create(
          { agents: [a, b, c] },
          { timeoutMs: 10_000, abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.polled(b)).toEqual([id]);
        w.at(2_000);
        expect(await w.report(a, id, 'completed')).toBe('accepted');

        w.at(10_999);
        expect((await w.check(id, { pending: 1, delivered: 1, completed: 1 })).status).toBe('in_progress');
        w.at(11_000);
        expect(await w.poll(c)).toEqual([]);

        w.at(11_500);
        const aborted = await w.check(id, { completed: 1, timed_out: 1, canceled: 1 });
        expect(aborted).toMatchObject({ status: 'aborted', completedAt: w.t0 + 11_000 });
        expect(statusesOf(await w.listed(id))).toEqual({ [a]: 'completed', [b]: 'timed_out', [c]: 'canceled' });
        expect(await w.report(b, id, 'completed')).toBe('refused timed_out');
      });

      it('judges each abort criterion on its own failure type: failures do not abort a timed_out criterion, the timeout that crosses it does', async () => {
        const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')];
        const job = await w.create(
          { agents: [a, b, c, d] },
          {
            timeoutMs: 10_000,
            abort: {
              criteria: [
                { failureType: 'timed_out', thresholdPercent: 50, minExecuted: 2 },
                { failureType: 'rejected', thresholdPercent: 100, minExecuted: 2 },
              ],
            },
          },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        for (const agent of [a, b, c]) expect(await w.polled(agent)).toEqual([id]);
        w.at(2_000);
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        w.at(3_000);
        expect(await w.report(b, id, 'rejected')).toBe('accepted');
        // 2 judged, 0 % timed out, 50 % rejected: no criterion met.
        expect((await w.check(id, { pending: 1, delivered: 1, failed: 1, rejected: 1 })).status).toBe('in_progress');

        w.at(10_999);
        expect((await w.check(id, { pending: 1, delivered: 1, failed: 1, rejected: 1 })).status).toBe('in_progress');
        // c times out at 11 s: 1 of 3 judged is 33 %, under 50 %: still in progress, d is delivered.
        w.at(11_000);
        expect((await w.check(id, { pending: 1, failed: 1, rejected: 1, timed_out: 1 })).status).toBe('in_progress');
        expect(await w.polled(d)).toEqual([id]);
        // d times out at 21 s: 2 of 4 judged is 50 %: aborted at that instant.
        w.at(21_000);
        const aborted = await w.check(id, { failed: 1, rejected: 1, timed_out: 2 });
        expect(aborted).toMatchObject({ status: 'aborted', completedAt: w.t0 + 21_000 });
        expect(aborted.spec.abort?.criteria).toHaveLength(2);
      });

      it('writes an abort that a timeout alone reached at the first read that meets it, and answers it there', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create(
          { agents: [a, b] },
          { timeoutMs: 5_000, abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 1 }] } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        await w.poll(a);

        w.at(6_500);
        const first = await w.jobs.get(id, w.now());

        expect(first).toMatchObject({ status: 'aborted', completedAt: w.t0 + 6_500, updatedAt: w.t0 + 6_500 });
        expect(first?.end).toMatchObject({ status: 'aborted', at: w.t0 + 6_500, undelivered: 1 });
        expect(await w.poll(b)).toEqual([]);
        await w.check(id, { timed_out: 1, canceled: 1 });
      });

      it('judges the threshold without the expired: a share a timeout reached before the expiry still aborts when read after it', async () => {
        const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
        const job = await w.create(
          { agents: [a, b, c] },
          {
            expiresAt: w.t0 + 20_000,
            timeoutMs: 5_000,
            abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 1 }] },
          },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        await w.poll(a);
        await w.poll(b);
        await w.report(b, id, 'completed');
        // a times out at 6 s: 1 of 2 judged is 50 %; nothing meets the job until after its expiry.
        w.at(30_000);
        const read = await w.jobs.get(id, w.now());
        expect(read?.status).toBe('aborted');
        await w.check(id, { timed_out: 1, completed: 1, expired: 1 });
      });

      it('never aborts for the expiry alone: a timeout and an undelivered expiry are not a 50 % share', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create(
          { agents: [a, b] },
          {
            expiresAt: w.t0 + 20_000,
            timeoutMs: 5_000,
            abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] },
          },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        await w.poll(a);
        w.at(30_000);
        expect((await w.check(id, { timed_out: 1, expired: 1 })).status).toBe('completed');
      });

      it('does not abort before min_executed executions are terminal', async () => {
        const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
        const job = await w.create(
          { agents: [a, b, c] },
          { abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 1, minExecuted: 3 }] } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        for (const agent of [a, b]) await w.poll(agent);
        await w.report(a, id, 'failed');
        await w.report(b, id, 'failed');
        expect((await w.check(id, { pending: 1, failed: 2 })).status).toBe('in_progress');
        expect(await w.polled(c)).toEqual([id]);
        await w.report(c, id, 'completed');
        expect(await w.check(id, { failed: 2, completed: 1 })).toMatchObject({ status: 'aborted', completedAt: w.t0 + 1_000 });
      });
    });

    describe('pause and resume', () => {
      it('a pause holds every first delivery from its instant, delivered ones go on and time still ends them; a resume delivers on the next poll', async () => {
        const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')];
        const job = await w.create({ agents: [a, b, c, d] }, { timeoutMs: 10_000 });
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.polled(b)).toEqual([id]);

        w.at(2_000);
        const paused = await w.jobs.pause(id, { paused: true, reason: 'canary failures', at: w.now() });
        expect(paused).toMatchObject({ outcome: 'accepted', job: { status: 'paused', pause: { paused: true, at: w.t0 + 2_000 } } });
        // At that very instant and after: nothing new; a delivered one is handed out again and reports.
        expect(await w.poll(c)).toEqual([]);
        expect(await w.poll(a)).toEqual([expect.objectContaining({ commandId: id, deliveryCount: 2 })]);
        expect(await w.progress(a, id)).toBe('accepted');
        w.at(3_000);
        expect(await w.report(a, id, 'completed')).toBe('accepted');
        // b times out at 11 s while paused.
        w.at(11_000);
        expect(await w.poll(d)).toEqual([]);
        const held = await w.check(id, { pending: 2, completed: 1, timed_out: 1 });
        expect(held).toMatchObject({ status: 'paused', pause: { paused: true, reason: 'canary failures' } });
        // A second pause changes nothing.
        expect(await w.jobs.pause(id, { paused: true, reason: 'again', at: w.now() })).toMatchObject({
          outcome: 'unchanged',
          job: { status: 'paused', pause: { at: w.t0 + 2_000, reason: 'canary failures' } },
        });

        w.at(12_000);
        const resumed = await w.jobs.pause(id, { paused: false, reason: undefined, at: w.now() });
        expect(resumed).toMatchObject({ outcome: 'accepted', job: { status: 'in_progress', pause: { paused: false, at: w.t0 + 12_000 } } });
        expect(await w.polled(c)).toEqual([id]);
        expect(await w.polled(d)).toEqual([id]);
        await w.check(id, { delivered: 2, completed: 1, timed_out: 1 });
        expect(await w.jobs.pause(id, { paused: false, reason: undefined, at: w.now() })).toMatchObject({ outcome: 'unchanged' });
      });

      it('holds a target whose poll met the job paused, and takes a group joiner of a paused continuous job as a target', async () => {
        const group = fresh('g');
        const [a, b] = [fresh('a'), fresh('b')];
        await w.join(group, a);
        const job = await w.create({ groups: [group] }, { continuous: true });
        const id = job.spec.jobId;
        w.at(1_000);
        await w.jobs.pause(id, { paused: true, reason: undefined, at: w.now() });
        expect(await w.poll(a)).toEqual([]);
        w.at(2_000);
        expect(await w.join(group, b)).toBe('added');
        expect(await w.poll(b)).toEqual([]);
        await w.check(id, { pending: 2 });

        w.at(3_000);
        await w.jobs.pause(id, { paused: false, reason: undefined, at: w.now() });
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.polled(b)).toEqual([id]);
        await w.check(id, { delivered: 2 });
      });

      it('refuses a pause or resume of an ended job; a paused job is canceled, aborted or completed as any other', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create(
          { agents: [a, b] },
          { abort: { criteria: [{ failureType: 'failed', thresholdPercent: 50, minExecuted: 1 }] } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        await w.jobs.pause(id, { paused: true, reason: undefined, at: w.now() });
        w.at(2_000);
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        expect((await w.check(id, { failed: 1, canceled: 1 })).status).toBe('aborted');
        expect(await w.jobs.pause(id, { paused: true, reason: undefined, at: w.now() })).toMatchObject({
          outcome: 'refused',
          job: { status: 'aborted' },
        });
        expect(await w.jobs.pause(id, { paused: false, reason: undefined, at: w.now() })).toMatchObject({ outcome: 'refused' });

        const other = await w.create({ agents: [b] });
        await w.jobs.pause(other.spec.jobId, { paused: true, reason: undefined, at: w.now() });
        expect(await w.jobs.cancel(other.spec.jobId, { reason: 'drop', force: false, at: w.now() })).toMatchObject({
          outcome: 'accepted',
          job: { status: 'canceled' },
        });
        expect(await w.jobs.pause('no-such-job', { paused: true, reason: undefined, at: w.now() })).toEqual({ outcome: 'not_found' });
      });
    });

    describe('retries', () => {
      const retryFailed = { criteria: [{ failureType: 'failed' as const, maxAttempts: 3 }] };
      const attempt = (records: readonly CommandRecord[]) => records.map((record) => [record.commandId, record.attempt ?? 1]);

      it('a failure with attempts left is the next attempt, pending for the same agent, delivered on its next poll; the last failure stands', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create({ agents: [a, b] }, { retry: retryFailed });
        const id = job.spec.jobId;
        w.at(1_000);
        expect(attempt(await w.poll(a))).toEqual([[id, 1]]);
        w.at(2_000);
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        // Counted pending (its next attempt), not failed, from that very instant; the listing agrees.
        const retried = await w.check(id, { pending: 2 });
        expect(retried.status).toBe('in_progress');
        const [entry] = (await w.listed(id)).filter((listed) => listed.agentId === a);
        expect(entry).toMatchObject({ status: 'pending', record: { attempt: 2 } });
        // A report on the attempt that failed, or before the next one is delivered: 409, nothing changes.
        expect(
          await w.rt.stores.unchecked.commands.complete(a, id, {
            status: 'completed',
            resultJson: undefined,
            completedAt: w.now(),
            attempt: 1,
          }),
        ).toEqual({
          outcome: 'stale_attempt',
          attempt: 2,
        });
        expect(await w.report(a, id, 'completed')).toBe('stale_attempt');
        w.at(3_000);
        const [again] = await w.poll(a);
        expect(again).toMatchObject({ commandId: id, attempt: 2, deliveredAt: w.t0 + 3_000, deliveryCount: 2 });
        await w.check(id, { pending: 1, delivered: 1 });
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        w.at(4_000);
        expect(attempt(await w.poll(a))).toEqual([[id, 3]]);
        expect(
          await w.rt.stores.unchecked.commands.complete(a, id, {
            status: 'failed',
            resultJson: '{"code":7}',
            completedAt: w.now(),
            attempt: 3,
          }),
        ).toEqual({
          outcome: 'accepted',
          status: 'failed',
        });
        // The third attempt was the last: failed stands, counted and judged.
        await w.check(id, { pending: 1, failed: 1 });
        expect(await w.poll(a)).toEqual([]);
        const detail = await w.jobs.execution(id, a, w.now());
        expect(detail.outcome === 'ok' && detail.history.map((change) => [change.status, change.attempt, change.reason ?? null])).toEqual([
          ['delivered', 1, null],
          ['failed', 1, null],
          ['pending', 2, 'retry'],
          ['delivered', 2, null],
          ['failed', 2, null],
          ['pending', 3, 'retry'],
          ['delivered', 3, null],
          ['failed', 3, null],
        ]);
        // rejected is never retried.
        expect(attempt(await w.poll(b))).toEqual([[id, 1]]);
        expect(await w.report(b, id, 'rejected')).toBe('accepted');
        expect((await w.check(id, { failed: 1, rejected: 1 })).status).toBe('completed');
      });

      it('a timeout with attempts left is pending again at the exact millisecond of its deadline; abort judges only what will not be retried', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create(
          { agents: [a, b] },
          {
            timeoutMs: 10_000,
            retry: { criteria: [{ failureType: 'timed_out' as const, maxAttempts: 2 }] },
            abort: { criteria: [{ failureType: 'timed_out' as const, thresholdPercent: 50, minExecuted: 1 }] },
          },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        w.at(10_999);
        await w.check(id, { pending: 1, delivered: 1 });
        w.at(11_000);
        // Its deadline: the next attempt, pending, no abort (nothing judged yet).
        expect((await w.check(id, { pending: 2 })).status).toBe('in_progress');
        expect(statusesOf(await w.listed(id))).toEqual({ [a]: 'pending', [b]: 'pending' });
        const [again] = await w.poll(a);
        expect(again).toMatchObject({ commandId: id, attempt: 2, deliveredAt: w.t0 + 11_000, deadlineAt: w.t0 + 21_000 });
        await w.check(id, { pending: 1, delivered: 1 });
        const detail = await w.jobs.execution(id, a, w.now());
        expect(detail.outcome === 'ok' && detail.history.map((change) => [change.status, change.at - w.t0, change.attempt])).toEqual([
          ['delivered', 1_000, 1],
          ['timed_out', 11_000, 1],
          ['pending', 11_000, 2],
          ['delivered', 11_000, 2],
        ]);
        // The second timeout is the last attempt's: timed_out stands, and crosses the criterion at that instant.
        w.at(21_000);
        const aborted = await w.check(id, { timed_out: 1, canceled: 1 });
        expect(aborted).toMatchObject({ status: 'aborted', completedAt: w.t0 + 21_000 });
        expect(await w.poll(b)).toEqual([]);
      });

      it('a timeout retried is read the same by every store path before anyone meets it: listing, job, the agent poll', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create(
          { agents: [a, b] },
          { timeoutMs: 5_000, retry: { criteria: [{ failureType: 'all' as const, maxAttempts: 2 }] } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.polled(b)).toEqual([id]);
        w.at(6_500);
        // a's timeout met by its read (GET of the command), b's by nobody: both pending.
        expect(await w.rt.stores.unchecked.commands.get(a, id, w.now())).toMatchObject({ attempt: 2, updatedAt: w.t0 + 6_000 });
        await w.check(id, { pending: 2 });
        expect(await w.report(b, id, 'completed')).toBe('stale_attempt');
        expect(attempt(await w.poll(b))).toEqual([[id, 2]]);
        expect(await w.report(b, id, 'completed')).toBe('accepted');
        await w.check(id, { pending: 1, completed: 1 });
      });

      it('a pause holds a retry; a resume delivers it; the job cancel cancels a retry still waiting', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create({ agents: [a, b] }, { retry: retryFailed });
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.polled(b)).toEqual([id]);
        w.at(2_000);
        expect((await w.jobs.pause(id, { paused: true, reason: undefined, at: w.now() })).outcome).toBe('accepted');
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        expect(await w.report(b, id, 'failed')).toBe('accepted');
        w.at(3_000);
        expect(await w.poll(a)).toEqual([]);
        await w.check(id, { pending: 2 });
        expect((await w.jobs.pause(id, { paused: false, reason: undefined, at: w.now() })).outcome).toBe('accepted');
        expect(attempt(await w.poll(a))).toEqual([[id, 2]]);
        w.at(4_000);
        const canceled = await w.jobs.cancel(id, { reason: 'enough', force: false, at: w.now() });
        expect(canceled).toMatchObject({ outcome: 'accepted', job: { counts: counts({ delivered: 1, canceled: 1 }) } });
        expect(await w.poll(b)).toEqual([]);
        await w.check(id, { delivered: 1, canceled: 1 });
        const [waiting] = (await w.listed(id)).filter((entry) => entry.agentId === b);
        expect(waiting).toMatchObject({ status: 'canceled', cancelReason: 'enough', record: { attempt: 2 } });
        // The delivered attempt goes on; its failure after the cancel is not retried.
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        expect((await w.check(id, { failed: 1, canceled: 1 })).status).toBe('canceled');
      });

      it('a retry counts against the rollout as a delivery', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create({ agents: [a, b] }, { retry: retryFailed, rollout: { maxPerMinute: 1 } });
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.report(a, id, 'failed')).toBe('accepted');
        w.at(30_000);
        expect(await w.poll(a)).toEqual([]);
        w.at(61_001);
        expect(attempt(await w.poll(a))).toEqual([[id, 2]]);
        expect(await w.poll(b)).toEqual([]);
        w.at(121_002);
        expect(await w.polled(b)).toEqual([id]);
      });
    });

    describe('schedule', () => {
      it('is scheduled before start_at and delivers nothing; from start_at to the very millisecond it is in progress', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create({ agents: [a, b] }, { schedule: { startAt: w.t0 + 10_000, endBehavior: 'stop_rollout' } });
        const id = job.spec.jobId;
        expect(job.status).toBe('scheduled');
        w.at(9_999);
        expect(await w.poll(a)).toEqual([]);
        expect((await w.check(id, { pending: 2 })).status).toBe('scheduled');
        w.at(10_000);
        expect((await w.check(id, { pending: 2 })).status).toBe('in_progress');
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.polled(b)).toEqual([id]);
        await w.check(id, { delivered: 2 });
      });

      it('stop_rollout: nothing new from end_at on, the undelivered canceled then (schedule_ended), completed once the delivered finish', async () => {
        const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
        const job = await w.create(
          { agents: [a, b, c] },
          { schedule: { startAt: w.t0, endAt: w.t0 + 20_000, endBehavior: 'stop_rollout' } },
        );
        const id = job.spec.jobId;
        w.at(19_999);
        expect(await w.polled(a)).toEqual([id]);
        await w.check(id, { pending: 2, delivered: 1 });
        w.at(20_000);
        expect(await w.poll(b)).toEqual([]);
        const stopped = await w.check(id, { delivered: 1, canceled: 2 });
        expect(stopped.status).toBe('in_progress');
        const listed = await w.listed(id);
        expect(listed.filter((entry) => entry.status === 'canceled').map((entry) => [entry.cancelReason, entry.endedAt])).toEqual([
          [SCHEDULE_END_REASON, w.t0 + 20_000],
          [SCHEDULE_END_REASON, w.t0 + 20_000],
        ]);
        // The delivered one is handed out again and finishes: the job is completed then.
        w.at(25_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.report(a, id, 'completed')).toBe('accepted');
        expect(await w.check(id, { completed: 1, canceled: 2 })).toMatchObject({ status: 'completed', completedAt: w.t0 + 25_000 });
      });

      it('cancel: at end_at the job is canceled at that very instant, reason schedule_ended; delivered ones go on', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create({ agents: [a, b] }, { schedule: { startAt: w.t0, endAt: w.t0 + 20_000, endBehavior: 'cancel' } });
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        w.at(19_999);
        expect((await w.check(id, { pending: 1, delivered: 1 })).status).toBe('in_progress');
        // Nothing meets the job at 20 s; read later, it ended then.
        w.at(30_000);
        expect(await w.poll(b)).toEqual([]);
        const canceled = await w.check(id, { delivered: 1, canceled: 1 });
        expect(canceled).toMatchObject({ status: 'canceled', completedAt: w.t0 + 20_000 });
        expect(canceled.end).toMatchObject({ status: 'canceled', at: w.t0 + 20_000, reason: SCHEDULE_END_REASON, force: false });
        expect(await w.report(a, id, 'completed')).toBe('accepted');
        await w.check(id, { completed: 1, canceled: 1 });
      });

      it('takes a joiner of a continuous job before end_at, and none from end_at on', async () => {
        const group = fresh('g');
        const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
        await w.join(group, a);
        const job = await w.create(
          { groups: [group] },
          { continuous: true, schedule: { startAt: w.t0, endAt: w.t0 + 20_000, endBehavior: 'stop_rollout' } },
        );
        const id = job.spec.jobId;
        w.at(19_999);
        expect(await w.join(group, b)).toBe('added');
        await w.check(id, { pending: 2 });
        w.at(20_000);
        expect(await w.join(group, c)).toBe('added');
        expect(await w.poll(c)).toEqual([]);
        // Nothing delivered, nothing to wait for: completed at the end, its two targets canceled.
        expect(await w.check(id, { canceled: 2 })).toMatchObject({ status: 'completed', completedAt: w.t0 + 20_000 });
      });

      it('force_cancel: at end_at delivered executions are canceled too, the counts frozen then; a report after is refused', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const job = await w.create(
          { agents: [a, b] },
          { timeoutMs: 15_000, schedule: { startAt: w.t0, endAt: w.t0 + 20_000, endBehavior: 'force_cancel' } },
        );
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        // a times out at 16 s, before the end: timed out, not canceled, in the frozen counts; b would at 21 s.
        w.at(6_000);
        expect(await w.polled(b)).toEqual([id]);
        w.at(20_000);
        const canceled = await w.check(id, { timed_out: 1, canceled: 1 });
        expect(canceled).toMatchObject({ status: 'canceled', completedAt: w.t0 + 20_000 });
        expect(canceled.end).toMatchObject({ at: w.t0 + 20_000, reason: SCHEDULE_END_REASON, force: true });
        w.at(21_000);
        expect(await w.report(b, id, 'completed')).toBe('refused canceled');
        await w.check(id, { timed_out: 1, canceled: 1 });
      });
    });

    describe('cancel', () => {
      it('without force: nothing undelivered is delivered any more; delivered ones continue and report', async () => {
        const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')];
        const job = await w.create({ agents: [a, b, c, d] });
        const id = job.spec.jobId;
        w.at(1_000);
        expect(await w.polled(a)).toEqual([id]);
        expect(await w.polled(b)).toEqual([id]);
        expect(await w.polled(d)).toEqual([id]);
        w.at(1_500);
        expect(await w.progress(b, id)).toBe('accepted');
        // An operator cancels one execution by itself.
        const single = await w.rt.stores.unchecked.commands.cancel(d, id, { reason: 'not this one', at: w.now() });
        expect(single.outcome).toEqual({ outcome: 'accepted', status: 'canceled' });
        await w.check(id, { pending: 1, delivered: 1, in_progress: 1, canceled: 1 });

        w.at(2_000);
        const answer = await w.jobs.cancel(id, { reason: 'maintenance', force: false, at: w.now() });
        expect(answer).toMatchObject({ outcome: 'accepted', job: { status: 'canceled', completedAt: w.t0 + 2_000 } });
        expect(await w.poll(c)).toEqual([]);
        expect(await w.poll(a)).toEqual([expect.objectContaining({ commandId: id, deliveryCount: 2 })]);
        w.at(3_000);
        expect(await w.report(a, id, 'completed')).toBe('accepted');
        expect(await w.report(b, id, 'failed')).toBe('accepted');
        const checked = await w.check(id, { completed: 1, failed: 1, canceled: 2 });
        expect(checked).toMatchObject({ status: 'canceled', completedAt: w.t0 + 2_000 });
        expect(checked.end).toMatchObject({ status: 'canceled', at: w.t0 + 2_000, reason: 'maintenance', force: false });
        const listed = await w.listed(id);
        expect(listed.find((entry) => entry.agentId === c)).toEqual({
          agentId: c,
          status: 'canceled',
          record: undefined,
          cancelReason: 'maintenance',
          endedAt: w.t0 + 2_000,
        });
        expect(listed.find((entry) => entry.agentId === d)?.cancelReason).toBe('not this one');

        const again = await w.jobs.cancel(id, { reason: 'again', force: true, at: w.now() });
        expect(again).toMatchObject({ outcome: 'refused', job: { status: 'canceled' } });
        await w.check(id, { completed: 1, failed: 1, canceled: 2 });
      });

      it('gives the undelivered the default reason when the cancel has none', async () => {
        const a = fresh('a');
        const job = await w.create({ agents: [a] });
        const at = w.at(10);
        await w.jobs.cancel(job.spec.jobId, { reason: undefined, force: false, at });
        w.at(5_000);
        expect(await w.listed(job.spec.jobId)).toEqual([
          { agentId: a, status: 'canceled', record: undefined, cancelReason: JOB_CANCEL_REASON, endedAt: at },
        ]);
      });

      it('refuses to cancel a job that has completed', async () => {
        const a = fresh('a');
        const job = await w.create({ agents: [a] });
        w.at(1_000);
        await w.poll(a);
        await w.report(a, job.spec.jobId, 'completed');
        const answer = await w.jobs.cancel(job.spec.jobId, { reason: undefined, force: true, at: w.at(2_000) });
        expect(answer).toMatchObject({ outcome: 'refused', job: { status: 'completed', completedAt: w.t0 + 1_000 } });
      });

      it('with force: delivered and in-progress ones are canceled too, counts frozen, and the agents learn it on their next report', async () => {
        const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')];
        const job = await w.create({ agents: [a, b, c, d] }, { timeoutMs: 30_000 });
        const id = job.spec.jobId;
        w.at(1_000);
        for (const agent of [a, b, d]) expect(await w.polled(agent)).toEqual([id]);
        w.at(1_500);
        expect(await w.progress(b, id)).toBe('accepted');
        expect(await w.report(d, id, 'completed')).toBe('accepted');

        w.at(2_000);
        const answer = await w.jobs.cancel(id, { reason: 'stop', force: true, at: w.now() });
        expect(answer).toMatchObject({ outcome: 'accepted', job: { status: 'canceled', completedAt: w.t0 + 2_000 } });
        const frozen = { completed: 1, canceled: 3 };
        await w.check(id, frozen);

        w.at(3_000);
        expect(await w.poll(a)).toEqual([]);
        expect(await w.report(a, id, 'completed')).toBe('refused canceled');
        expect(await w.progress(b, id)).toBe('refused canceled');
        expect(await w.poll(c)).toEqual([]);
        expect(await w.rt.stores.unchecked.commands.get(a, id)).toMatchObject({
          resultStatus: 'canceled',
          cancelReason: 'stop',
          completedAt: w.t0 + 2_000,
        });
        const listed = await w.listed(id);
        expect(statusesOf(listed)).toEqual({ [a]: 'canceled', [b]: 'canceled', [c]: 'canceled', [d]: 'completed' });
        expect(listed.filter((entry) => entry.status === 'canceled').map((entry) => entry.cancelReason)).toEqual(['stop', 'stop', 'stop']);
        // Past every deadline and the expiry: the counts stay those of the cancel's instant.
        w.at(2 * HOUR);
        expect((await w.check(id, frozen)).status).toBe('canceled');
      });
    });

    describe('counts in time', () => {
      it('moves delivered and in-progress executions to timed_out at the exact millisecond of their deadline', async () => {
        const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
        const job = await w.create({ agents: [a, b, c] }, { timeoutMs: 5_000 });
        const id = job.spec.jobId;
        w.at(1_000);
        await w.poll(a);
        w.at(2_000);
        await w.poll(b);
        w.at(3_000);
        expect(await w.progress(b, id, 10_000)).toBe('accepted');

        w.at(5_999);
        await w.check(id, { pending: 1, delivered: 1, in_progress: 1 });
        w.at(6_000);
        await w.check(id, { pending: 1, in_progress: 1, timed_out: 1 });
        w.at(12_999);
        await w.check(id, { pending: 1, in_progress: 1, timed_out: 1 });
        w.at(13_000);
        const job13 = await w.check(id, { pending: 1, timed_out: 2 });
        expect(job13.status).toBe('in_progress');
        expect(await w.report(b, id, 'completed')).toBe('refused timed_out');
      });

      it('expires everything still open at the job expiry (a deadline at the expiry is an expiry), and the job is completed then', async () => {
        const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
        const job = await w.create({ agents: [a, b, c] }, { expiresAt: w.t0 + MINUTE, timeoutMs: 50_000 });
        const id = job.spec.jobId;
        w.at(10_000);
        await w.poll(a); // its deadline is the expiry itself
        w.at(20_000);
        await w.poll(b);
        await w.progress(b, id);

        w.at(MINUTE - 1);
        expect((await w.check(id, { pending: 1, delivered: 1, in_progress: 1 })).status).toBe('in_progress');
        w.at(MINUTE);
        const expired = await w.check(id, { expired: 3 });
        expect(expired).toMatchObject({ status: 'completed', completedAt: w.t0 + MINUTE, updatedAt: w.t0 + MINUTE });
        expect(await w.poll(c)).toEqual([]);
      });

      it('a job is completed once every execution is terminal, at the last one; a continuous one only at its expiry', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const plain = await w.create({ agents: [a, b] });
        const continuous = await w.create({ agents: [a, b] }, { continuous: true, expiresAt: w.t0 + MINUTE });
        w.at(1_000);
        await w.poll(a);
        await w.poll(b);
        w.at(2_000);
        await w.report(a, plain.spec.jobId, 'completed');
        await w.report(a, continuous.spec.jobId, 'completed');
        expect((await w.check(plain.spec.jobId, { delivered: 1, completed: 1 })).status).toBe('in_progress');
        w.at(3_000);
        await w.report(b, plain.spec.jobId, 'rejected');
        await w.report(b, continuous.spec.jobId, 'failed');

        w.at(4_000);
        expect(await w.check(plain.spec.jobId, { completed: 1, rejected: 1 })).toMatchObject({
          status: 'completed',
          completedAt: w.t0 + 3_000,
          updatedAt: w.t0 + 3_000,
        });
        expect(await w.check(continuous.spec.jobId, { completed: 1, failed: 1 })).toMatchObject({
          status: 'in_progress',
          completedAt: undefined,
        });
        w.at(MINUTE);
        expect(await w.check(continuous.spec.jobId, { completed: 1, failed: 1 })).toMatchObject({
          status: 'completed',
          completedAt: w.t0 + MINUTE,
        });
      });
    });

    describe('listings', () => {
      it('lists jobs newest first, with a status filter and cursors that new jobs do not move', async () => {
        const a = fresh('a');
        const made: string[] = [];
        for (let i = 0; i < 5; i += 1) {
          w.at(i);
          made.push((await w.create({ agents: [a] })).spec.jobId);
        }
        w.at(10);
        for (const index of [1, 3]) await w.jobs.cancel(made[index] as string, { reason: undefined, force: false, at: w.now() });

        const seen: string[] = [];
        let before = 0;
        for (let page = 0; page < 10; page += 1) {
          const answer = await w.jobs.list({ statuses: undefined, limit: 2, before }, w.now());
          expect(answer.jobs.length).toBeGreaterThan(0);
          seen.push(...answer.jobs.map((job) => job.spec.jobId));
          if (page === 0) made.push((await w.create({ agents: [a] })).spec.jobId); // a newer one, not on later pages
          if (answer.nextBefore === undefined) break;
          before = answer.nextBefore;
        }
        expect(seen).toEqual([...made.slice(0, 5)].reverse());

        const canceled = await w.jobs.list({ statuses: ['canceled'], limit: 10, before: 0 }, w.now());
        expect(canceled.jobs.map((job) => [job.spec.jobId, job.status])).toEqual([
          [made[3], 'canceled'],
          [made[1], 'canceled'],
        ]);
        expect(canceled.nextBefore).toBeUndefined();
        const open = await w.jobs.list({ statuses: ['in_progress', 'aborted'], limit: 10, before: 0 }, w.now());
        expect(open.jobs.map((job) => job.spec.jobId)).toEqual([made[5], made[4], made[2], made[0]]);
      });

      it('pages the executions of a growing continuous job without losing or repeating a target', async () => {
        const group = fresh('g');
        const initial = Array.from({ length: 5 }, (_, i) => `m${i}-${randomUUID().slice(0, 4)}`);
        for (const agent of initial) await w.join(group, agent);
        const job = await w.create({ groups: [group] }, { continuous: true });
        const joiners: string[] = [];
        w.at(1_000);
        const walked = await allExecutions(w.jobs, job.spec.jobId, w.now(), 2, async (page) => {
          // Joiners after the first three pages only, so that the walk catches up with them.
          for (let i = 0; i < (page <= 3 ? 2 : 0); i += 1) {
            const agent = `0-joiner${page}${i}-${randomUUID().slice(0, 4)}`;
            joiners.push(agent);
            await w.join(group, agent);
          }
          // Executions made between pages change statuses, never the order.
          if (page < initial.length) await w.poll(initial[page] as string);
        });
        expect(byAgent(walked)).toEqual([...[...initial].sort(), ...joiners]);
        await w.check(job.spec.jobId);
      });

      it('filters executions by status across pages', async () => {
        const agents = Array.from({ length: 6 }, (_, i) => `x${i}-${randomUUID().slice(0, 4)}`).sort();
        const job = await w.create({ agents });
        w.at(1_000);
        for (const agent of agents.filter((_, i) => i % 2 === 0)) await w.poll(agent);
        const delivered = await allExecutions(w.jobs, job.spec.jobId, w.now(), 1, async () => {}, ['delivered']);
        expect(byAgent(delivered)).toEqual(agents.filter((_, i) => i % 2 === 0));
        const pending = await allExecutions(w.jobs, job.spec.jobId, w.now(), 2, async () => {}, ['pending', 'canceled']);
        expect(byAgent(pending)).toEqual(agents.filter((_, i) => i % 2 === 1));
      });
    });

    describe('idempotent creation', () => {
      it('answers the job as created to the same key and request, mismatch to another request, per operator', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const key = { sub: 'op:1', key: fresh('k'), fingerprint: 'f1' };
        const spec = w.spec({ agents: [a, b] });
        const first = await w.jobs.create(spec, key);
        expect(first.outcome).toBe('created');
        w.at(1_000);
        await w.poll(a);

        const replay = await w.jobs.create({ ...w.spec({ agents: [a, b] }), jobId: randomUUID() }, key);
        expect(replay.outcome).toBe('replayed');
        expect(replay.outcome === 'replayed' && replay.job).toStrictEqual(first.outcome === 'created' && first.job);
        expect(await w.jobs.create(w.spec({ agents: [b] }), { ...key, fingerprint: 'f2' })).toEqual({ outcome: 'mismatch' });
        const other = await w.jobs.create(w.spec({ agents: [b] }), { ...key, sub: 'op:2' });
        expect(other.outcome).toBe('created');

        const listed = await w.jobs.list({ statuses: undefined, limit: 10, before: 0 }, w.now());
        expect(listed.jobs.map((job) => job.spec.jobId)).toEqual([other.outcome === 'created' ? other.job.spec.jobId : '', spec.jobId]);
        await w.check(spec.jobId, { pending: 1, delivered: 1 });
      });

      it('makes one job of concurrent creates with one key', async () => {
        const a = fresh('a');
        const key = { sub: 'op', key: fresh('k'), fingerprint: 'f' };
        const specs = Array.from({ length: 8 }, () => w.spec({ agents: [a] }));

        const answers = await Promise.all(specs.map((spec) => w.jobs.create(spec, key)));

        expect(answers.filter((answer) => answer.outcome === 'created')).toHaveLength(1);
        expect(answers.filter((answer) => answer.outcome === 'replayed')).toHaveLength(7);
        const ids = new Set(answers.map((answer) => ('job' in answer ? answer.job.spec.jobId : answer.outcome)));
        expect(ids.size).toBe(1);
        const listed = await w.jobs.list({ statuses: undefined, limit: 10, before: 0 }, w.now());
        expect(listed.jobs.map((job) => job.spec.jobId)).toEqual([...ids]);
        w.at(1_000);
        expect(await w.polled(a)).toEqual([...ids]);
      });
    });

    describe("the agent's poll", () => {
      it('hands out the plain commands first, then executions oldest job first, within the limit', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        const plain = (agentId: string, n: number) => ({
          commandId: randomUUID(),
          agentId,
          command: `plain-${n}`,
          args: {},
          createdAt: w.now(),
          expiresAt: w.now() + HOUR,
        });
        const p1 = plain(a, 1);
        await w.rt.stores.unchecked.commands.enqueue(p1);
        const older = await w.create({ agents: [a, b] });
        const p2 = plain(a, 2);
        await w.rt.stores.unchecked.commands.enqueue(p2);
        const newer = await w.create({ agents: [a, b] });
        const [q1, q2] = [plain(b, 1), plain(b, 2)];
        await w.rt.stores.unchecked.commands.enqueue(q1);
        await w.rt.stores.unchecked.commands.enqueue(q2);

        w.at(1_000);
        expect(await w.polled(a)).toEqual([p1.commandId, p2.commandId, older.spec.jobId, newer.spec.jobId]);
        expect(await w.polled(a)).toEqual([p1.commandId, p2.commandId, older.spec.jobId, newer.spec.jobId]);
        // No room left in the page: the jobs wait.
        expect(await w.polled(b, 2)).toEqual([q1.commandId, q2.commandId]);
        await w.check(older.spec.jobId, { pending: 1, delivered: 1 });
        expect(await w.report(b, q1.commandId, 'completed')).toBe('accepted');
        expect(await w.polled(b, 2)).toEqual([q2.commandId, older.spec.jobId]);
        expect(await w.polled(b, 3)).toEqual([q2.commandId, older.spec.jobId, newer.spec.jobId]);
        await w.check(newer.spec.jobId, { delivered: 2 });
      });
    });
  });
}

/** The agent's side of a job through the real handlers: the poll, the report, the operator's command view. */
export function jobHandlerContract(target: StoreTarget): void {
  describe(`${target.name}: a job's execution through the agent handlers`, () => {
    let w: World;
    let agentId: string;
    let agent: string;
    let operator: string;
    beforeEach(async () => {
      w = worldOn(target);
      agentId = fresh('agent@1');
      agent = await signToken({ sub: agentId, scope: 'agent:commands agent:results' });
      operator = await signToken({ sub: 'operator-1', scope: 'admin:commands' });
    });

    it('shows the execution with its job id after the plain commands, and refuses a report after a forced cancel with 409 canceled', async () => {
      const plainId = randomUUID();
      await w.rt.stores.unchecked.commands.enqueue({
        commandId: plainId,
        agentId,
        command: 'plain',
        args: {},
        createdAt: w.now(),
        expiresAt: w.now() + HOUR,
      });
      const job = await w.create({ agents: [agentId] });
      const id = job.spec.jobId;
      w.at(1_000);

      const polled = await invoke(getCommands, { path: '/api/commands', token: agent });
      expect(polled.status).toBe(200);
      expect(polled.body.commands.map((c: { command_id: string; job_id: string | null }) => [c.command_id, c.job_id])).toEqual([
        [plainId, null],
        [id, id],
      ]);
      const post = (body: unknown) => invoke(postResults, { method: 'POST', path: '/api/results', token: agent, body });
      expect((await post({ command_id: id, status: 'in_progress' })).status).toBe(200);

      w.at(2_000);
      await w.jobs.cancel(id, { reason: 'stop now', force: true, at: w.now() });
      w.at(3_000);
      const refused = await post({ command_id: id, status: 'completed', result: { exit: 0 } });
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ error: 'conflict', error_description: 'the command was canceled' });
      const shown = await invoke(getCommand, {
        path: `/api/agents/${agentId}/commands/${id}`,
        pathParameters: { agentId, commandId: id },
        token: operator,
      });
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ command_id: id, status: 'canceled', cancel_reason: 'stop now', job_id: id });
      const after = await invoke(getCommands, { path: '/api/commands', token: agent });
      expect(after.body.commands.map((c: { command_id: string }) => c.command_id)).toEqual([plainId]);
    });
  });
}
