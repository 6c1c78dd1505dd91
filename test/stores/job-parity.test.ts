/**
 * Job parity, as test/stores/parity.test.ts does it for commands: random histories of job creates (some
 * with an Idempotency-Key), group joins and leaves, plain enqueues, polls, reports, single
 * cancels, job cancels (with and without force), job pauses and resumes and clock steps, run against the in-memory
 * stores and the Upstash stores through the local bridge on a real Redis (the Lua scripts) at
 * once. Every answer of every step must be the same in both; after every step each job reads the
 * same in both, and in each its counts equal a recount of its executions listing.
 *
 * Histories use few agents, groups and jobs so that they meet: overlapping targets, a rollout of
 * one or two a minute or exponential from one, schedules that start and end between the clock's steps, an abort after one or two terminal executions, timeouts that fall between
 * the clock's steps, continuous jobs whose groups change under them.
 *
 * Times are the caller's: each history starts a minute ahead of the wall clock and only moves
 * forward (at most a few hours in all), well inside the retention, so no Redis TTL ends during
 * a run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommandStatus, Report } from '../../lib/commands/model.ts';
import type { JobListQuery, JobSpec, JobStatus, RolloutConfig, ScheduleEndBehavior } from '../../lib/jobs/model.ts';
import type { Runtime } from '../../lib/runtime.ts';
import { checkedJob } from '../helpers/job-contract.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { memoryTarget, redisTarget } from '../helpers/targets.ts';

/** PROPERTIES_FACTOR=20 multiplies the number of histories, for a deeper search. */
const FACTOR = Number(process.env.PROPERTIES_FACTOR || 1);
const RUNS = Math.max(1, Math.round(30 * FACTOR));

const AGENTS = ['a', 'b:1', 'b%3A1', 'fleet@eu.1'] as const;
const GROUPS = ['web', 'web:eu'] as const;
const MAX_JOBS = 3;
const STEPS = [1, 999, 1_000, 4_999, 5_000, 20_000, 30_000, 60_000] as const;
const ROLLOUTS: readonly (RolloutConfig | undefined)[] = [
  undefined,
  { maxPerMinute: 1 },
  { maxPerMinute: 2 },
  { exponential: { basePerMinute: 1, incrementFactorTenths: 20, increaseAfter: { kind: 'notified', count: 1 } } },
  { maxPerMinute: 2, exponential: { basePerMinute: 1, incrementFactorTenths: 30, increaseAfter: { kind: 'succeeded', count: 1 } } },
];
const ABORTS = [
  undefined,
  { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] },
  { criteria: [{ failureType: 'all' as const, thresholdPercent: 34, minExecuted: 1 }] },
  {
    criteria: [
      { failureType: 'timed_out' as const, thresholdPercent: 50, minExecuted: 1 },
      { failureType: 'rejected' as const, thresholdPercent: 100, minExecuted: 1 },
    ],
  },
] as const;
/** Schedules relative to the create: start and end offsets (ms), and the end's behaviour. */
const SCHEDULES: readonly ({ start: number; end?: number; behavior: ScheduleEndBehavior } | undefined)[] = [
  undefined,
  undefined,
  { start: 5_000, behavior: 'stop_rollout' },
  { start: 0, end: 20_000, behavior: 'stop_rollout' },
  { start: 1_000, end: 30_000, behavior: 'cancel' },
  { start: 0, end: 5_000, behavior: 'force_cancel' },
];
const TIMEOUTS = [undefined, 5_000, 20_000] as const;
const TTLS = [30_000, 120_000, 3_600_000] as const;
const STATUS_SETS: readonly (readonly CommandStatus[] | undefined)[] = [undefined, ['pending'], ['delivered', 'in_progress'], ['canceled']];
const JOB_STATUS_SETS: readonly (readonly JobStatus[] | undefined)[] = [
  undefined,
  ['in_progress'],
  ['paused', 'scheduled'],
  ['canceled', 'aborted', 'completed'],
];

type Op =
  | {
      kind: 'create';
      agents: number;
      groups: number;
      continuous: boolean;
      rollout: number;
      abort: number;
      schedule: number;
      timeout: number;
      ttl: number;
      retry: number;
      idempotency: { key: number; fingerprint: number } | undefined;
    }
  | { kind: 'join' | 'leave'; group: number; agent: number }
  | { kind: 'enqueue'; agent: number }
  | { kind: 'poll'; agent: number; limit: number }
  | {
      kind: 'report';
      agent: number;
      job: number;
      status: 'completed' | 'failed' | 'rejected' | 'in_progress';
      stepMs: number | undefined;
      attempt: number | undefined;
    }
  | { kind: 'get'; agent: number; job: number }
  | { kind: 'cancel'; agent: number; job: number }
  | { kind: 'cancelJob'; job: number; force: boolean; reason: string | undefined }
  | { kind: 'pause'; job: number; paused: boolean; reason: string | undefined }
  | { kind: 'executions'; job: number; statuses: number; limit: number; after: number; budget: number | undefined }
  | { kind: 'list'; statuses: number; limit: number; before: number; budget: number | undefined }
  | { kind: 'execution'; job: number; agent: number }
  | { kind: 'advance'; step: number };

const index = (list: readonly unknown[]) => fc.nat({ max: list.length - 1 });
/** A listing page's budget of entries: the default (PAGE_BUDGET), or so few that pages stop on it. */
const BUDGET = fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined });
const rarely = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
const jobIndex = fc.nat({ max: MAX_JOBS - 1 });
/** Retries: none (twice, so most jobs have none), failures and timeouts alike, or each its own. */
const RETRIES = [
  undefined,
  undefined,
  { criteria: [{ failureType: 'all' as const, maxAttempts: 3 }] },
  {
    criteria: [
      { failureType: 'timed_out' as const, maxAttempts: 2 },
      { failureType: 'failed' as const, maxAttempts: 3 },
    ],
  },
] as const;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      agents: fc.nat({ max: 2 ** AGENTS.length - 1 }),
      groups: fc.nat({ max: 2 ** GROUPS.length - 1 }),
      continuous: fc.boolean(),
      rollout: index(ROLLOUTS),
      abort: index(ABORTS),
      schedule: index(SCHEDULES),
      timeout: index(TIMEOUTS),
      ttl: index(TTLS),
      retry: index(RETRIES),
      idempotency: rarely(fc.record({ key: fc.nat({ max: 1 }), fingerprint: fc.nat({ max: 1 }) })),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('join' as const), group: index(GROUPS), agent: index(AGENTS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('leave' as const), group: index(GROUPS), agent: index(AGENTS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('enqueue' as const), agent: index(AGENTS) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('poll' as const), agent: index(AGENTS), limit: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('report' as const),
      agent: index(AGENTS),
      job: jobIndex,
      status: fc.constantFrom('completed' as const, 'failed' as const, 'rejected' as const, 'in_progress' as const),
      stepMs: rarely(fc.constantFrom(3_000, 10_000)),
      attempt: rarely(fc.constantFrom(1, 2, 3)),
    }),
  },
  // An operator's read of an execution: it meets a timeout retried as the poll and the report do.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('get' as const), agent: index(AGENTS), job: jobIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), agent: index(AGENTS), job: jobIndex }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('cancelJob' as const),
      job: jobIndex,
      force: fc.boolean(),
      reason: rarely(fc.constantFrom('stop', 'stop:now')),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('executions' as const),
      job: jobIndex,
      statuses: index(STATUS_SETS),
      limit: fc.integer({ min: 1, max: 3 }),
      after: fc.nat({ max: 5 }),
      budget: BUDGET,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('list' as const),
      statuses: index(JOB_STATUS_SETS),
      limit: fc.integer({ min: 1, max: 3 }),
      before: fc.nat({ max: 6 }),
      budget: BUDGET,
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), step: index(STEPS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pause' as const),
      job: jobIndex,
      paused: fc.boolean(),
      reason: fc.constantFrom(undefined, 'hold'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('execution' as const), job: jobIndex, agent: index(AGENTS) }) },
);

const pick = <T>(list: readonly T[], mask: number) => list.filter((_, i) => (mask & (1 << i)) !== 0);

interface Subject {
  readonly name: string;
  readonly rt: Runtime;
}

async function runHistory(ops: readonly Op[], subjects: readonly Subject[]): Promise<void> {
  let now = Date.now() + 60_000;
  /** The job ids made so far (a replayed create names the job it made). */
  const made: string[] = [];
  let jobCounter = 0;
  for (const [step, op] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(op)} at +${now}`;
    /** The same act on every subject: the answers must all be equal. */
    const each = async <T>(act: (rt: Runtime) => Promise<T>): Promise<T> => {
      const answers: T[] = [];
      for (const subject of subjects) answers.push(await act(subject.rt));
      for (const [i, answer] of answers.entries()) {
        try {
          expect(answer).toStrictEqual(answers[0]);
        } catch (error) {
          throw new Error(`${subjects[i]?.name} differs from ${subjects[0]?.name} at ${where}`, { cause: error });
        }
      }
      return answers[0] as T;
    };
    const jobAt = (job: number) => made[job % Math.max(1, made.length)] ?? 'no-job';
    switch (op.kind) {
      case 'create': {
        jobCounter += 1;
        const schedule = SCHEDULES[op.schedule];
        const spec: JobSpec = {
          jobId: `job-${jobCounter}`,
          command: 'restart',
          args: { n: jobCounter },
          targets: { agents: pick(AGENTS, op.agents), groups: pick(GROUPS, op.groups) },
          createdAt: now,
          expiresAt: now + (TTLS[op.ttl] as number),
          continuous: op.continuous,
          ...(TIMEOUTS[op.timeout] === undefined ? {} : { timeoutMs: TIMEOUTS[op.timeout] }),
          ...(ROLLOUTS[op.rollout] === undefined ? {} : { rollout: ROLLOUTS[op.rollout] as RolloutConfig }),
          ...(ABORTS[op.abort] === undefined ? {} : { abort: ABORTS[op.abort] }),
          ...(RETRIES[op.retry] === undefined ? {} : { retry: RETRIES[op.retry] }),
          ...(schedule === undefined
            ? {}
            : {
                schedule: {
                  startAt: now + schedule.start,
                  ...(schedule.end === undefined ? {} : { endAt: now + schedule.end }),
                  endBehavior: schedule.behavior,
                },
              }),
        };
        if (spec.targets.agents.length + spec.targets.groups.length === 0 || made.length >= MAX_JOBS) break;
        const idempotency =
          op.idempotency === undefined
            ? undefined
            : { sub: 'op', key: `k${op.idempotency.key}`, fingerprint: `f${op.idempotency.fingerprint}` };
        const answer = await each((rt) => rt.stores.unchecked.jobs.create(spec, idempotency));
        if ('job' in answer && !made.includes(answer.job.spec.jobId)) made.push(answer.job.spec.jobId);
        break;
      }
      case 'join': {
        const [group, agent] = [GROUPS[op.group] as string, AGENTS[op.agent] as string];
        await each((rt) => rt.stores.unchecked.groups.join(group, agent, now));
        break;
      }
      case 'leave': {
        const [group, agent] = [GROUPS[op.group] as string, AGENTS[op.agent] as string];
        await each((rt) => rt.stores.unchecked.groups.leave(group, agent));
        break;
      }
      case 'enqueue': {
        const agentId = AGENTS[op.agent] as string;
        const command = { commandId: `plain-${step}`, agentId, command: 'plain', args: {}, createdAt: now, expiresAt: now + 3_600_000 };
        await each((rt) => rt.stores.unchecked.commands.enqueue(command));
        break;
      }
      case 'poll':
        await each((rt) => rt.stores.unchecked.commands.fetch(AGENTS[op.agent] as string, op.limit, now));
        break;
      case 'report': {
        const report: Report =
          op.status === 'in_progress'
            ? { status: 'in_progress', statusDetailsJson: undefined, timeoutMs: op.stepMs, at: now, attempt: op.attempt }
            : { status: op.status, resultJson: undefined, completedAt: now, attempt: op.attempt };
        await each((rt) => rt.stores.unchecked.commands.complete(AGENTS[op.agent] as string, jobAt(op.job), report));
        break;
      }
      case 'get':
        await each((rt) => rt.stores.unchecked.commands.getDetail(AGENTS[op.agent] as string, jobAt(op.job), now));
        break;
      case 'cancel':
        await each((rt) => rt.stores.unchecked.commands.cancel(AGENTS[op.agent] as string, jobAt(op.job), { reason: 'one', at: now }));
        break;
      case 'cancelJob':
        await each((rt) => rt.stores.unchecked.jobs.cancel(jobAt(op.job), { reason: op.reason, force: op.force, at: now }));
        break;
      case 'pause':
        await each((rt) => rt.stores.unchecked.jobs.pause(jobAt(op.job), { paused: op.paused, reason: op.reason, at: now }));
        break;
      case 'executions': {
        const query = { statuses: STATUS_SETS[op.statuses], limit: op.limit, after: op.after, budget: op.budget };
        await each((rt) => rt.stores.unchecked.jobs.executions(jobAt(op.job), query, now));
        break;
      }
      case 'execution':
        // One target read alone, with its execution's history (first delivery, reports, cancels).
        await each((rt) => rt.stores.unchecked.jobs.execution(jobAt(op.job), AGENTS[op.agent] as string, now));
        break;
      case 'list': {
        const query: JobListQuery = { statuses: JOB_STATUS_SETS[op.statuses], limit: op.limit, before: op.before, budget: op.budget };
        await each((rt) => rt.stores.unchecked.jobs.list(query, now));
        break;
      }
      case 'advance':
        now += STEPS[op.step] as number;
        break;
    }
    // After every step: each job reads the same everywhere, its counts equal to a recount.
    for (const jobId of made) {
      await each(async (rt) => {
        try {
          return await checkedJob(rt.stores.unchecked.jobs, jobId, now);
        } catch (error) {
          throw new Error(`job ${jobId} after ${where}`, { cause: error });
        }
      });
    }
  }
}

const historyArb = fc.array(opArb, { minLength: 1, maxLength: 40, size: 'medium' });

describe('job counts of the in-memory store against a recount, over random histories', () => {
  it('equal the executions listing after every step', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, (ops) => runHistory(ops, [{ name: 'memory', rt: memoryTarget.runtime() }])),
      { numRuns: RUNS * 2 },
    );
  });
});

describe.skipIf(!HAS_REDIS)('job parity of the in-memory store and the Lua on a real Redis', () => {
  const fixture = redisTarget('job-parity');

  it('gives the same answer to every step of random histories, and the same job after each', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, (ops) =>
        runHistory(ops, [
          { name: 'memory', rt: memoryTarget.runtime() },
          { name: 'upstash', rt: fixture.runtime() },
        ]),
      ),
      { numRuns: RUNS },
    );
  });
});
