/**
 * Every rule of lib/store/lua/rules against its TypeScript twin: each rule file runs alone in
 * EVAL on a real Redis over a table of calls, and each answer must be the one the function of the
 * same name in the module its `-- mirrors:` line names gives for the same arguments. The calls
 * are those the rule tests make (test/rules/lifecycle.test.ts, test/rules/job-rules.test.ts, the
 * pure window of test/handlers/ratelimit.test.ts, the revocation contract and parity tests, the
 * group parity test), rebuilt here from the same values and widened to every state at and around
 * each boundary instant, plus a seeded fast-check sample of random arguments for each rule.
 *
 * The rules are found by listing the folder, so a rule with no table here fails by name; one
 * `it` per rule, so a rule that drifts from its twin fails by name, with the first calls on
 * which the two differ. How values cross between the two languages: test/helpers/lua-rules.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dpop from '../../lib/auth/dpop.ts';
import * as revocation from '../../lib/auth/revocation.ts';
import * as lifecycle from '../../lib/commands/lifecycle.ts';
import {
  COMMAND_STATUSES,
  type CommandRecord,
  type CommandStatus,
  type ProgressSubmission,
  type Report,
  type ResultSubmission,
} from '../../lib/commands/model.ts';
import * as membership from '../../lib/groups/membership.ts';
import {
  ABORT_FAILURE_TYPES,
  type AbortConfig,
  JOB_STATUSES,
  MAX_ABORT_CRITERIA,
  type JobCounts,
  type JobEnd,
  type JobSpec,
  type JobState,
  type JobTally,
  type RolloutConfig,
  SCHEDULE_END_BEHAVIORS,
  MAX_JOB_TARGETS,
  type TimedOutTally,
} from '../../lib/jobs/model.ts';
import * as jobRules from '../../lib/jobs/rules.ts';
import * as ratelimit from '../../lib/store/ratelimit.ts';
import { evalRule, luaShape } from '../helpers/lua-rules.ts';
import { HAS_REDIS, type TcpClient, tcpClient } from '../helpers/redis.ts';

const RULE_DIR = 'lib/store/lua/rules';
const RULES = readdirSync(RULE_DIR)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => file.replace(/\.lua$/, ''))
  .sort();

/** The modules a `-- mirrors:` line may name. */
const TWIN_MODULES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  'lib/commands/lifecycle.ts': lifecycle,
  'lib/jobs/rules.ts': jobRules,
  'lib/auth/revocation.ts': revocation,
  'lib/auth/dpop.ts': dpop,
  'lib/store/ratelimit.ts': ratelimit,
  'lib/groups/membership.ts': membership,
};

/** The rule's twin, from the first line of its file. */
function twinOf(rule: string): { module: string; name: string; fn: ((...args: unknown[]) => unknown) | undefined } {
  const first = readFileSync(`${RULE_DIR}/${rule}.lua`, 'utf8').split('\n')[0] ?? '';
  const [, module = '', name = ''] = /^-- mirrors: (\S+) (\S+)$/.exec(first) ?? [];
  const fn = Object.hasOwn(TWIN_MODULES, module) ? TWIN_MODULES[module]?.[name] : undefined;
  return { module, name, fn: typeof fn === 'function' ? (fn as (...args: unknown[]) => unknown) : undefined };
}

/** Every combination of one value from each list, in order. */
function product(...lists: readonly (readonly unknown[])[]): unknown[][] {
  return lists.reduce<unknown[][]>((calls, list) => calls.flatMap((call) => list.map((value) => [...call, value])), [[]]);
}

/** The values once each (by their JSON), in order. */
function distinct<T>(values: readonly T[]): T[] {
  const seen = new Set<string>();
  return values.filter((value) => {
    const key = JSON.stringify(value) ?? 'undefined';
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const orUndefined = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

// --- Commands: the values of test/rules/lifecycle.test.ts ----------------------------------------

const T0 = Date.UTC(2026, 0, 1);
const RETENTION = 60_000;
const RETENTIONS = [RETENTION, 0];
const base: CommandRecord = { commandId: 'c1', agentId: 'a1', command: 'run', args: {}, createdAt: T0, expiresAt: T0 + 10_000 };

const result = (status: 'completed' | 'failed' | 'rejected', at: number, resultJson: string | null = '{"ok":true}'): ResultSubmission => ({
  status,
  resultJson: resultJson ?? undefined,
  completedAt: at,
});
const progressAt = (at: number, extra: { statusDetailsJson?: string; timeoutMs?: number } = {}): ProgressSubmission => ({
  status: 'in_progress',
  statusDetailsJson: extra.statusDetailsJson,
  timeoutMs: extra.timeoutMs,
  at,
});
const recordOf = (transition: lifecycle.Transition): CommandRecord => {
  if (transition.record === undefined) throw new Error('no record');
  return transition.record;
};

/** A record in each state at T0 + 100, built only through the transitions (as lifecycle.test.ts does). */
function inState(status: CommandStatus): CommandRecord {
  const fetched = lifecycle.delivered({ ...base, timeoutMs: 5_000 }, T0 + 10);
  switch (status) {
    case 'pending':
    case 'expired':
      return base;
    case 'delivered':
    case 'timed_out':
      return fetched;
    case 'in_progress':
      return recordOf(lifecycle.applyReport(fetched, progressAt(T0 + 20), RETENTION));
    case 'completed':
    case 'failed':
    case 'rejected':
      return recordOf(lifecycle.applyReport(fetched, result(status, T0 + 20), RETENTION));
    case 'canceled':
      return recordOf(lifecycle.cancel(fetched, { reason: 'r', at: T0 + 20 }, RETENTION));
  }
}

const fetched = inState('delivered');
const stepped = recordOf(lifecycle.applyReport(fetched, progressAt(T0 + 100, { timeoutMs: 60_000 }), RETENTION));

/** Every record the lifecycle tests reach, and the ones they build by hand. */
const RECORDS: readonly CommandRecord[] = distinct([
  ...COMMAND_STATUSES.map(inState),
  { ...base, timeoutMs: 2_000 },
  lifecycle.delivered(fetched, T0 + 50),
  lifecycle.delivered({ ...base, timeoutMs: 1_000 }, T0),
  { ...base, deadlineAt: base.expiresAt },
  { ...base, deadlineAt: base.expiresAt + 1 },
  { ...base, deadlineAt: T0 + 1 },
  { ...base, completedAt: T0 + 2 },
  recordOf(lifecycle.applyReport(inState('in_progress'), progressAt(T0 + 100, { statusDetailsJson: '{"a":"b"}' }), RETENTION)),
  stepped,
  recordOf(lifecycle.applyReport(stepped, progressAt(T0 + 101, { timeoutMs: 1_000 }), RETENTION)),
  recordOf(lifecycle.applyReport(fetched, result('completed', T0 + 20, null), RETENTION)),
]);

/**
 * The instants at and around each boundary of the record: its times, its end by time, its end of
 * retention; T0 comes before the last change of most (a caller whose clock is behind the writer's).
 */
function instantsOf(record: CommandRecord): number[] {
  const times = [
    T0,
    T0 + 100,
    record.deliveredAt,
    record.startedAt,
    record.deadlineAt,
    record.expiresAt,
    record.completedAt,
    lifecycle.goneAt(record, RETENTION),
  ];
  return distinct(times.flatMap((time) => (time === undefined ? [] : [time - 1, time, time + 1]))).sort((a, b) => a - b);
}
const atRecordInstants = (...rest: readonly (readonly unknown[])[]) =>
  RECORDS.flatMap((record) => product([record], instantsOf(record), ...rest));

const BODIES = ['{"ok":true}', '{"ok":false}', null];
const SUBMISSIONS_AT = (at: number) => [
  ...product(['completed', 'failed', 'rejected'], BODIES).map(([status, body]) => result(status as 'completed', at, body as string | null)),
  // A result with its status_details (why it failed, or was rejected).
  { ...result('failed', at, null), statusDetailsJson: '{"reason":"disk full"}' },
  { ...result('rejected', at, '{"r":1}'), statusDetailsJson: '{"reason":"signature_invalid"}' },
];
const UPDATES: readonly { statusDetailsJson?: string; timeoutMs?: number }[] = [
  {},
  { statusDetailsJson: '{"step":"1"}' },
  { timeoutMs: 60_000 },
  { statusDetailsJson: '{"x":"y"}', timeoutMs: 1_000 },
];
const REPORTS_AT = (at: number): Report[] => [
  progressAt(at),
  progressAt(at, { statusDetailsJson: '{"step":"2"}', timeoutMs: 1_000 }),
  result('completed', at),
  result('failed', at, null),
  result('rejected', at, '{"ok":false}'),
];

/** Times within a few ms of each other, so that random records meet their boundaries. */
const soon = fc.integer({ min: T0, max: T0 + 60 });
const recordArb: fc.Arbitrary<CommandRecord> = fc
  .record(
    {
      expiresAt: fc.integer({ min: T0 + 1, max: T0 + 50 }),
      timeoutMs: fc.integer({ min: 1, max: 30 }),
      updatedAt: soon,
      deliveredAt: soon,
      deliveryCount: fc.integer({ min: 1, max: 4 }),
      startedAt: soon,
      deadlineAt: soon,
      statusDetailsJson: fc.constantFrom('{"step":"1"}', '{}'),
      completedAt: soon,
      resultStatus: fc.constantFrom('completed', 'failed', 'rejected', 'canceled'),
      resultJson: fc.constantFrom('{"ok":true}', '{"ok":false}'),
      cancelReason: fc.constantFrom('r', ''),
      jobId: fc.constant('job-1'),
    } as const,
    { requiredKeys: ['expiresAt'] },
  )
  // A body is written only with the result it belongs to, as every transition writes it. (On a record
  // with a body and no result, which none makes, finish differs: the TypeScript keeps the old body
  // when the result has none, the Lua clears it.)
  .map(({ resultJson, ...fields }) => ({
    ...base,
    ...fields,
    ...(fields.resultStatus === undefined || resultJson === undefined ? {} : { resultJson }),
  }));
const progressArb: fc.Arbitrary<ProgressSubmission> = fc.record({
  status: fc.constant('in_progress' as const),
  statusDetailsJson: orUndefined(fc.constantFrom('{"step":"2"}', '')),
  timeoutMs: orUndefined(fc.integer({ min: 0, max: 30 })),
  at: soon,
});
const resultArb: fc.Arbitrary<ResultSubmission> = fc.record({
  status: fc.constantFrom('completed', 'failed', 'rejected'),
  resultJson: orUndefined(fc.constantFrom('{"ok":true}', '{"ok":false}')),
  statusDetailsJson: orUndefined(fc.constantFrom('{"why":"disk"}')),
  completedAt: soon,
});
const reportArb: fc.Arbitrary<Report> = fc.oneof(progressArb, resultArb);
const retentionArb = fc.constantFrom(0, 10, RETENTION);

// --- Jobs: the values of test/rules/job-rules.test.ts --------------------------------------------

const TTL = 100_000;
const NONE: TimedOutTally = { delivered: 0, inProgress: 0 };
const specOf = (extra: Partial<JobSpec> = {}): JobSpec => ({
  jobId: 'job-1',
  command: 'restart',
  args: { service: 'nginx' },
  targets: { agents: ['a1'], groups: ['web'] },
  createdAt: T0,
  expiresAt: T0 + TTL,
  continuous: false,
  ...extra,
});
const stateOf = (tally: Partial<JobTally>, spec: JobSpec = specOf()): JobState => {
  const made = jobRules.createdJob(spec, 1, tally.targets ?? 10);
  return { ...made, tally: { ...made.tally, ...tally } };
};
const zero = Object.fromEntries(COMMAND_STATUSES.map((status) => [status, 0])) as JobCounts;
const countsOf = (some: Partial<JobCounts>): JobCounts => ({ ...zero, ...some });

const guarded = specOf({ abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] } });
const byType = specOf({
  abort: {
    criteria: [
      { failureType: 'timed_out', thresholdPercent: 50, minExecuted: 2 },
      { failureType: 'rejected', thresholdPercent: 30, minExecuted: 3 },
    ],
  },
});
const stopAt40 = specOf({ schedule: { startAt: T0 + 5, endAt: T0 + 40, endBehavior: 'stop_rollout' } });
const cancelAt40 = specOf({ schedule: { startAt: T0 + 5, endAt: T0 + 40, endBehavior: 'cancel' } });
const forceAt40 = specOf({ schedule: { startAt: T0 + 5, endAt: T0 + 40, endBehavior: 'force_cancel' }, continuous: true });
const retryTwice = { criteria: [{ failureType: 'all' as const, maxAttempts: 3 }] };
const retryByType = {
  criteria: [
    { failureType: 'timed_out' as const, maxAttempts: 2 },
    { failureType: 'all' as const, maxAttempts: 4 },
  ],
};
const retrying = specOf({ timeoutMs: 1_000, retry: retryTwice });
const SPECS: readonly JobSpec[] = [
  specOf(),
  retrying,
  specOf({ timeoutMs: 1_000, retry: retryByType, schedule: { startAt: T0, endAt: T0 + 40, endBehavior: 'stop_rollout' } }),
  guarded,
  byType,
  stopAt40,
  cancelAt40,
  forceAt40,
  specOf({ schedule: { startAt: T0 + 50, endBehavior: 'stop_rollout' } }),
  specOf({ schedule: { startAt: T0, endAt: T0 + TTL + 5, endBehavior: 'stop_rollout' } }),
  specOf({ abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 25, minExecuted: 4 }] } }),
  specOf({ continuous: true }),
  specOf({ rollout: { maxPerMinute: 3 } }),
  specOf({ timeoutMs: 5_000 }),
  specOf({ timeoutMs: 5 }),
  specOf({ timeoutMs: 1_000, targets: { agents: [], groups: [] } }),
];

const live = stateOf({ targets: 10, materialized: 4, delivered: 2, inProgress: 1, completed: 1 });
const forced: JobEnd = { status: 'canceled', at: T0 + 10, force: true, undelivered: 0, final: countsOf({}) };
const ENDS: readonly JobEnd[] = [
  { status: 'canceled', at: T0 + 5, force: false, undelivered: 4 },
  { status: 'canceled', at: T0 + 5, force: true, undelivered: 5, final: countsOf({ completed: 2, canceled: 8 }) },
  { status: 'aborted', at: T0 + 1, reason: jobRules.ABORT_REASON, force: false, undelivered: 6 },
  { status: 'canceled', at: T0 + 1, reason: 'oops', force: false, undelivered: 10 },
  { status: 'canceled', at: T0 + 1, force: true, undelivered: 10 },
  { status: 'aborted', at: T0 + TTL, reason: jobRules.ABORT_REASON, force: false, undelivered: 0 },
  { status: 'canceled', at: T0 + 50, reason: 'maintenance', force: false, undelivered: 6 },
  { status: 'canceled', at: T0 + 10, force: false, undelivered: 0 },
  forced,
  { ...forced, reason: 'rollback' },
];

/** The states the job tests build, and each test end written on a live job. */
const STATES: readonly JobState[] = [
  jobRules.createdJob(specOf(), 7, 5),
  jobRules.createdJob(specOf(), 1, 0),
  stateOf({}),
  stateOf({ targets: 10, materialized: 6, delivered: 3, inProgress: 2, completed: 1 }),
  stateOf({ targets: 10, materialized: 6, delivered: 3, inProgress: 2, failed: 1 }),
  jobRules.ended(stateOf({ targets: 10, materialized: 6, delivered: 5, canceled: 1 }), ENDS[0] as JobEnd),
  jobRules.ended(stateOf({ targets: 10, materialized: 5, delivered: 3 }), ENDS[1] as JobEnd),
  stateOf({ targets: 3, materialized: 1, delivered: 1, updatedAt: T0 + 4 }),
  stateOf({ targets: 0 }, specOf({ continuous: true })),
  stateOf({ targets: 10, materialized: 2, failed: 1, completed: 1 }, guarded),
  stateOf({ targets: 10, materialized: 3, delivered: 1, failed: 1, completed: 1 }, guarded),
  stateOf({ targets: 10, materialized: 3, failed: 1, completed: 2 }, guarded),
  stateOf({ targets: 4, materialized: 2, delivered: 1, completed: 1 }, guarded),
  stateOf({ targets: 10, materialized: 4, delivered: 2, completed: 1, rejected: 1 }, byType),
  stateOf({ targets: 10, materialized: 5, delivered: 1, completed: 2, rejected: 2 }, byType),
  stateOf({ targets: 10, materialized: 4, delivered: 2, failed: 2 }, byType),
  stateOf({ targets: 2, materialized: 2, completed: 2 }),
  stateOf({ targets: 3, materialized: 3, delivered: 1, completed: 2, lastEndAt: T0 + 20 }),
  stateOf({ targets: 1, materialized: 1, completed: 1, lastEndAt: T0 + 20 }, specOf({ continuous: true })),
  live,
  ...ENDS.map((end) => jobRules.ended(live, end)),
  { ...live, pause: { paused: true, at: T0 + 5, reason: 'hold' } },
  { ...live, spec: stopAt40 },
  { ...live, spec: cancelAt40 },
  { ...live, spec: forceAt40 },
  { ...stateOf({ targets: 4, materialized: 2, completed: 2 }), spec: stopAt40 },
  { ...stateOf({ targets: 4, materialized: 3, completed: 1, failed: 2 }), spec: { ...cancelAt40, abort: guarded.abort } },
  jobRules.ended({ ...live, spec: stopAt40 }, ENDS[6] as JobEnd),
  jobRules.ended({ ...live, spec: stopAt40 }, ENDS[0] as JobEnd),
  { ...live, spec: specOf({ schedule: { startAt: T0 + 50, endBehavior: 'stop_rollout' } }) },
  { ...live, pause: { paused: false, at: T0 + 6 } },
  { ...stateOf({ targets: 2, materialized: 2, completed: 2 }), pause: { paused: true, at: T0 + 5 } },
  { ...stateOf({ targets: 10, materialized: 3, failed: 1, completed: 2 }, guarded), pause: { paused: true, at: T0 + 5 } },
  { ...jobRules.ended(live, ENDS[0] as JobEnd), pause: { paused: true, at: T0 + 1 } },
  // Changed by a clock ahead of the reader's (a delivery, a failure crossing the threshold at
  // T0 + 45): read, aborted or canceled at an earlier instant, the end is stamped at T0 + 45.
  stateOf({ targets: 10, materialized: 4, delivered: 3, completed: 1, updatedAt: T0 + 45 }),
  stateOf({ targets: 10, materialized: 4, delivered: 1, inProgress: 1, failed: 2, lastEndAt: T0 + 45, updatedAt: T0 + 45 }, guarded),
  // Retries: executions waiting for their next attempt (a failure retried), a timeout retried by time.
  stateOf({ targets: 10, materialized: 4, delivered: 1, inProgress: 1, retrying: 2 }, retrying),
  jobRules.ended(stateOf({ targets: 10, materialized: 4, delivered: 1, retrying: 2 }, retrying), ENDS[0] as JobEnd),
  { ...stateOf({ targets: 5, materialized: 3, delivered: 2, retrying: 1 }, retrying), spec: { ...retrying, schedule: stopAt40.schedule } },
];
const TIMED_OUT: readonly TimedOutTally[] = [
  NONE,
  { delivered: 2, inProgress: 1, retried: 2, lastAt: T0 + 50 },
  { delivered: 2, inProgress: 1, lastAt: T0 + 50 },
  { delivered: 1, inProgress: 0, lastAt: T0 + 10 },
  { delivered: 1, inProgress: 0, lastAt: T0 + 30 },
];
const JOB_INSTANTS = [T0, T0 + 1, T0 + 5, T0 + 6, T0 + 29, T0 + 35, T0 + 40, T0 + 50, T0 + 51, T0 + TTL - 1, T0 + TTL, T0 + TTL + 1];

/** The counts the tests write by hand, and every count countsAt gives for the states above. */
const LISTED_COUNTS: readonly JobCounts[] = [
  countsOf({ pending: 9, delivered: 9, in_progress: 9, completed: 1, failed: 2, rejected: 3, timed_out: 4, canceled: 5, expired: 6 }),
  countsOf({ completed: 3, failed: 1 }),
  countsOf({ completed: 4, failed: 1 }),
  countsOf({ failed: 3, pending: 100 }),
  countsOf({ failed: 3, canceled: 1, pending: 100 }),
  countsOf({ rejected: 1, completed: 3 }),
  countsOf({ timed_out: 1, completed: 3 }),
  countsOf({ canceled: 4, expired: 4 }),
  countsOf({ failed: 1, canceled: 3, expired: 4 }),
  countsOf({ failed: 1 }),
  countsOf({ failed: 100 }),
  countsOf({ failed: 1, expired: 5 }),
  countsOf({ timed_out: 1, expired: 1 }),
  countsOf({ timed_out: 1, expired: 3 }),
  countsOf({ pending: 1 }),
  countsOf({ delivered: 1, completed: 3 }),
  countsOf({}),
  countsOf({ failed: 10 }),
];
/** Each state with the counts countsAt gives for it at each instant, as a store reads them. */
const READ_STATES = STATES.flatMap((state) =>
  product(TIMED_OUT, JOB_INSTANTS).map(([timedOut, at]) => ({
    state,
    counts: jobRules.countsAt(state, timedOut as TimedOutTally, at as number),
    at: at as number,
  })),
);
const COUNTS = distinct([...LISTED_COUNTS, ...READ_STATES.map(({ counts }) => counts)]);
const ABORTS = [
  undefined,
  { criteria: [{ failureType: 'all' as const, thresholdPercent: 25, minExecuted: 4 }] },
  { criteria: [{ failureType: 'all' as const, thresholdPercent: 26, minExecuted: 4 }] },
  { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] },
  { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 1 }] },
  { criteria: [{ failureType: 'all' as const, thresholdPercent: 100, minExecuted: 1 }] },
  { criteria: [{ failureType: 'failed' as const, thresholdPercent: 25, minExecuted: 4 }] },
  { criteria: [{ failureType: 'rejected' as const, thresholdPercent: 25, minExecuted: 4 }] },
  { criteria: [{ failureType: 'timed_out' as const, thresholdPercent: 25, minExecuted: 1 }] },
  {
    criteria: [
      { failureType: 'timed_out' as const, thresholdPercent: 50, minExecuted: 2 },
      { failureType: 'failed' as const, thresholdPercent: 20, minExecuted: 5 },
    ],
  },
];
const PAUSES = [
  { paused: true, reason: 'hold' },
  { paused: true, reason: undefined },
  { paused: false, reason: undefined },
  { paused: false, reason: 'go' },
];
const exponential = (base: number, tenths: number, kind: 'notified' | 'succeeded', count: number) => ({
  basePerMinute: base,
  incrementFactorTenths: tenths,
  increaseAfter: { kind, count },
});
const ROLLOUTS: readonly (RolloutConfig | undefined)[] = [
  undefined,
  { maxPerMinute: 3 },
  { exponential: exponential(1, 20, 'notified', 2) },
  { maxPerMinute: 3, exponential: exponential(1, 20, 'notified', 2) },
  { exponential: exponential(2, 15, 'succeeded', 1) },
  { exponential: exponential(1, 11, 'notified', 1) },
  { exponential: exponential(10, 11, 'notified', 1) },
  { maxPerMinute: 100, exponential: exponential(1000, 50, 'succeeded', 1) },
  { exponential: exponential(1000, 50, 'succeeded', 1) },
];
/** Tallies far along: many steps, up to the cap. */
const RATE_TALLIES: readonly JobTally[] = [0, 1, 2, 3, 4, 5, 7, 9, 40, 100_000].map((n) => ({
  ...jobRules.createdJob(specOf(), 1, 100_000).tally,
  materialized: n,
  completed: Math.floor(n / 2),
}));
const CANCELLATIONS = [
  { reason: 'maintenance', force: false },
  { reason: undefined, force: false },
  { reason: undefined, force: true },
  { reason: 'again', force: true },
];

/** The executions the job tests make and move: made, started, stepped, ended by a result or a cancel. */
const made = jobRules.executionRecord(specOf({ timeoutMs: 1_000 }), 'a1', T0 + 1);
const started = recordOf(lifecycle.applyReport(made, progressAt(T0 + 2), RETENTION));
const restepped = recordOf(lifecycle.applyReport(started, progressAt(T0 + 3, { timeoutMs: 500 }), RETENTION));
const doneFrom = (before: CommandRecord) =>
  (['completed', 'failed', 'rejected'] as const).map((status) =>
    recordOf(lifecycle.applyReport(before, result(status, T0 + 9, null), RETENTION)),
  );
const canceledMade = recordOf(lifecycle.cancel(made, { reason: 'stop', at: T0 + 4 }, RETENTION));
const MOVES: readonly (readonly [CommandRecord | undefined, CommandRecord])[] = [
  [undefined, made],
  [undefined, started],
  [made, started],
  [started, restepped],
  ...doneFrom(made).map((after) => [made, after] as const),
  ...doneFrom(started).map((after) => [started, after] as const),
  [made, canceledMade],
  [canceledMade, canceledMade],
  [made, jobRules.nextAttempt(made, T0 + 9)],
  [started, jobRules.nextAttempt(started, T0 + 9)],
  [jobRules.nextAttempt(made, T0 + 9), lifecycle.delivered(jobRules.nextAttempt(made, T0 + 9), T0 + 20)],
  [
    jobRules.nextAttempt(made, T0 + 9),
    recordOf(lifecycle.cancel(jobRules.nextAttempt(made, T0 + 9), { reason: 'stop', at: T0 + 30 }, RETENTION)),
  ],
];
const startTally = jobRules.createdJob(specOf({ timeoutMs: 1_000 }), 1, 3).tally;
const TALLIES: readonly JobTally[] = [
  startTally,
  jobRules.retally(startTally, undefined, made, T0 + 1),
  { ...jobRules.retally(startTally, undefined, made, T0 + 1), updatedAt: T0 + 50, lastEndAt: T0 + 50 },
];
const EXECUTIONS: readonly CommandRecord[] = distinct([
  made,
  started,
  restepped,
  canceledMade,
  ...doneFrom(made),
  { ...started, deadlineAt: T0 + TTL - 1 },
  { ...started, deadlineAt: T0 + TTL },
  jobRules.executionRecord(specOf(), 'a1', T0 + 1),
  jobRules.executionRecord(specOf({ timeoutMs: 5 }), 'a1', T0 + 1),
  recordOf(lifecycle.applyReport(jobRules.executionRecord(specOf(), 'a1', T0 + 1), result('failed', T0 + 5), RETENTION)),
]);
/** Executions of a job with retries: at their first attempt and later ones, waiting for a retry, ended each way. */
const pendingRetry = jobRules.nextAttempt(doneFrom(made)[1] as CommandRecord, T0 + 9);
const RETRY_RECORDS: readonly CommandRecord[] = distinct([
  ...EXECUTIONS,
  { ...made, jobId: 'job-1' },
  { ...made, attempt: 2 },
  { ...made, attempt: 3 },
  { ...started, attempt: 2 },
  pendingRetry,
  { ...pendingRetry, attempt: 3 },
  lifecycle.delivered(pendingRetry, T0 + 20),
  { ...(doneFrom(made)[1] as CommandRecord), attempt: 2 },
  { ...(doneFrom(made)[1] as CommandRecord), attempt: 3 },
  recordOf(lifecycle.cancel(pendingRetry, { reason: 'stop', at: T0 + 30 }, RETENTION)),
  { ...made, deadlineAt: T0 + 45 },
  { ...made, deadlineAt: T0 + 30 },
]);

const jobSoon = fc.integer({ min: T0, max: T0 + 120 });
const countsArb: fc.Arbitrary<JobCounts> = fc.record(
  Object.fromEntries(COMMAND_STATUSES.map((status) => [status, fc.nat({ max: 12 })])) as Record<CommandStatus, fc.Arbitrary<number>>,
);
const criterionArb = fc.record({
  failureType: fc.constantFrom(...ABORT_FAILURE_TYPES),
  thresholdPercent: fc.integer({ min: 1, max: 100 }),
  minExecuted: fc.integer({ min: 1, max: 10 }),
});
const abortArb: fc.Arbitrary<AbortConfig> = fc.record({
  criteria: fc.array(criterionArb, { minLength: 1, maxLength: MAX_ABORT_CRITERIA }),
});
const retryArb = fc.record({
  criteria: fc.uniqueArray(
    fc.record({
      failureType: fc.constantFrom('failed' as const, 'timed_out' as const, 'all' as const),
      maxAttempts: fc.integer({ min: 1, max: 4 }),
    }),
    { minLength: 1, maxLength: 2, selector: (criterion) => criterion.failureType },
  ),
});
const specArb: fc.Arbitrary<JobSpec> = fc
  .record(
    {
      expiresAt: fc.integer({ min: T0 + 1, max: T0 + 100 }),
      continuous: fc.boolean(),
      timeoutMs: fc.integer({ min: 1, max: 50 }),
      rollout: fc.record({ maxPerMinute: fc.integer({ min: 1, max: 5 }) }),
      abort: abortArb,
      retry: retryArb,
      schedule: fc.record(
        {
          startAt: fc.integer({ min: T0, max: T0 + 60 }),
          endAt: fc.integer({ min: T0 + 1, max: T0 + 120 }),
          endBehavior: fc.constantFrom(...SCHEDULE_END_BEHAVIORS),
        },
        { requiredKeys: ['startAt', 'endBehavior'] },
      ),
    },
    { requiredKeys: ['expiresAt', 'continuous'] },
  )
  .map((fields) => ({ ...specOf(), ...fields }));
const endArb: fc.Arbitrary<JobEnd> = fc
  .record(
    {
      status: fc.constantFrom('canceled', 'aborted'),
      at: jobSoon,
      reason: fc.constantFrom('maintenance', '', jobRules.ABORT_REASON),
      force: fc.boolean(),
      undelivered: fc.nat({ max: 10 }),
      final: countsArb,
    } as const,
    { requiredKeys: ['status', 'at', 'force', 'undelivered'] },
  )
  // Only a forced cancel freezes the counts.
  .map(({ final, ...end }) => ({ ...end, ...(end.force && final !== undefined ? { final } : {}) }));
const tallyArb: fc.Arbitrary<JobTally> = fc.record(
  {
    targets: fc.nat({ max: 20 }),
    materialized: fc.nat({ max: 10 }),
    delivered: fc.nat({ max: 5 }),
    inProgress: fc.nat({ max: 5 }),
    completed: fc.nat({ max: 5 }),
    failed: fc.nat({ max: 5 }),
    rejected: fc.nat({ max: 5 }),
    canceled: fc.nat({ max: 5 }),
    retrying: fc.nat({ max: 3 }),
    lastEndAt: jobSoon,
    updatedAt: jobSoon,
  },
  {
    requiredKeys: [
      'targets',
      'materialized',
      'delivered',
      'inProgress',
      'completed',
      'failed',
      'rejected',
      'canceled',
      'retrying',
      'updatedAt',
    ],
  },
);
const pauseArb = fc.record(
  { paused: fc.boolean(), at: jobSoon, reason: fc.constantFrom('hold', 'go') },
  { requiredKeys: ['paused', 'at'] },
);
const rolloutArb: fc.Arbitrary<RolloutConfig> = fc
  .record(
    {
      maxPerMinute: fc.integer({ min: 1, max: 50 }),
      exponential: fc.record({
        basePerMinute: fc.integer({ min: 1, max: 20 }),
        incrementFactorTenths: fc.integer({ min: 11, max: 50 }),
        increaseAfter: fc.record({
          kind: fc.constantFrom('notified' as const, 'succeeded' as const),
          count: fc.integer({ min: 1, max: 4 }),
        }),
      }),
    },
    { requiredKeys: [] },
  )
  .filter((rollout) => rollout.maxPerMinute !== undefined || rollout.exponential !== undefined);
const stateArb: fc.Arbitrary<JobState> = fc
  .record({ spec: specArb, tally: tallyArb, end: endArb, pause: pauseArb }, { requiredKeys: ['spec', 'tally'] })
  .map((fields) => ({ seq: 1, ...fields }));
const timedOutArb: fc.Arbitrary<TimedOutTally> = fc.record(
  { delivered: fc.nat({ max: 3 }), inProgress: fc.nat({ max: 3 }), retried: fc.nat({ max: 3 }), lastAt: jobSoon },
  { requiredKeys: ['delivered', 'inProgress'] },
);
/** An execution: a record of the job, times in the job's few ms, at its first attempt or a later one. */
const executionArb: fc.Arbitrary<CommandRecord> = fc
  .tuple(recordArb, fc.constantFrom(undefined, 2, 3))
  .map(([record, attempt]) => ({ ...record, commandId: 'job-1', jobId: 'job-1', ...(attempt === undefined ? {} : { attempt }) }));

// --- Revocation: the values of the revocation contract and parity tests (epoch s) ---------------

const NOW_S = Math.floor(T0 / 1000);
const IATS = [undefined, NOW_S - 100, NOW_S - 10, NOW_S, NOW_S + 1, NOW_S + 10];
const CUTOFFS = [undefined, NOW_S, NOW_S - 50, NOW_S + 20, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e16];
const MODES: readonly revocation.RevocationMode[] = ['denylist', 'allowlist'];
const TOKENS: readonly revocation.TokenIdentity[] = product(['jti-1', undefined], IATS).map(([jti, iat]) => ({
  jti: jti as string | undefined,
  sub: 'agent-1',
  iat: iat as number | undefined,
  exp: NOW_S + 300,
}));
const FACTS: readonly revocation.RevocationFacts[] = product([false, true], [false, true], CUTOFFS).map(
  ([jtiRevoked, registered, subjectCutoff]) => ({
    jtiRevoked: jtiRevoked as boolean,
    registered: registered as boolean,
    subjectCutoff: subjectCutoff as number | undefined,
  }),
);

const secondsArb = fc.integer({ min: NOW_S - 20, max: NOW_S + 20 });
/** A cut-off as a store may read it: a time near the tokens', or a number that is not one (NaN, infinite), or any double. */
const cutoffArb = fc.oneof(secondsArb, fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), fc.double());
const tokenArb: fc.Arbitrary<revocation.TokenIdentity> = fc.record({
  jti: orUndefined(fc.constantFrom('jti-1', '')),
  sub: fc.constant('agent-1'),
  iat: orUndefined(secondsArb),
  exp: fc.constant(NOW_S + 300),
});
const modeArb = fc.constantFrom(...MODES);

// --- Rate limit: the pure window of test/handlers/ratelimit.test.ts ------------------------------

const WINDOW_START = 1_000_000 * 60_000;
const WINDOWS_MS = [1_000, 30_000, 60_000];
const WINDOW_INSTANTS = (windowMs: number) => [
  1_000,
  1_600,
  ...[0, 1, windowMs / 4, windowMs / 2, (3 * windowMs) / 4, windowMs - 1].flatMap((offset) => [
    WINDOW_START + offset,
    WINDOW_START + windowMs + offset,
  ]),
];
const WINDOW_COUNTS = [
  ...product([0, 1, 2, 3], [0, 1, 2, 3]).map(([current, previous]) => ({ current, previous })),
  { current: 0, previous: 10 },
];

// --- The tables ---------------------------------------------------------------------------------

interface RuleTable {
  /** Calls, each the twin's arguments. */
  readonly calls: readonly (readonly unknown[])[];
  /** Random arguments for the twin, sampled with a fixed seed. */
  readonly sample: fc.Arbitrary<readonly unknown[]>;
  /** The rule's arguments when they are not the twin's. */
  readonly luaArgs?: (args: readonly unknown[]) => readonly unknown[];
}

const TABLES: Readonly<Record<string, RuleTable>> = {
  // lib/commands/lifecycle.ts
  isTerminal: { calls: product(COMMAND_STATUSES), sample: fc.tuple(fc.constantFrom(...COMMAND_STATUSES)) },
  timeEnd: { calls: product(RECORDS), sample: fc.tuple(recordArb) },
  statusOf: { calls: atRecordInstants(), sample: fc.tuple(recordArb, soon) },
  isDeliverable: { calls: atRecordInstants(), sample: fc.tuple(recordArb, soon) },
  delivered: { calls: atRecordInstants(), sample: fc.tuple(recordArb, soon) },
  goneAt: { calls: product(RECORDS, RETENTIONS), sample: fc.tuple(recordArb, retentionArb) },
  isGone: { calls: atRecordInstants(RETENTIONS), sample: fc.tuple(recordArb, soon, retentionArb) },
  isSameResult: {
    calls: product(RECORDS, SUBMISSIONS_AT(T0 + 100)),
    sample: fc.tuple(recordArb, resultArb),
  },
  reportedAt: { calls: product(REPORTS_AT(T0 + 100)), sample: fc.tuple(reportArb) },
  // Each record at instants before its last change too (T0, a clock behind the one that wrote it),
  // as progress, finish and cancel below.
  changeAt: { calls: atRecordInstants(), sample: fc.tuple(recordArb, soon) },
  progress: {
    calls: RECORDS.flatMap((record) =>
      product(
        [record],
        instantsOf(record).flatMap((at) => UPDATES.map((update) => progressAt(at, update))),
      ),
    ),
    sample: fc.tuple(recordArb, progressArb),
  },
  finish: {
    calls: RECORDS.flatMap((record) => product([record], instantsOf(record).flatMap(SUBMISSIONS_AT))),
    sample: fc.tuple(recordArb, resultArb),
  },
  applyReport: {
    calls: [
      ...product([undefined], REPORTS_AT(T0), [RETENTION]),
      ...RECORDS.flatMap((record) => product([record], instantsOf(record).flatMap(REPORTS_AT), [RETENTION])),
    ],
    sample: fc.tuple(orUndefined(recordArb), reportArb, retentionArb),
  },
  cancel: {
    calls: [undefined, ...RECORDS].flatMap((record) =>
      product(
        [record],
        product(record === undefined ? [T0] : instantsOf(record), ['no longer needed', undefined, '']).map(([at, reason]) => ({
          reason,
          at,
        })),
        [RETENTION],
      ),
    ),
    sample: fc.tuple(orUndefined(recordArb), fc.record({ reason: orUndefined(fc.constantFrom('stop', '')), at: soon }), retentionArb),
  },
  idempotency: {
    calls: product(
      [undefined, { fingerprint: 'f', commandId: 'c1', until: T0 + 1_000 }],
      ['f', 'g'],
      [T0, T0 + 999, T0 + 1_000, T0 + 1_001],
      [true, false],
    ),
    sample: fc.tuple(
      orUndefined(fc.record({ fingerprint: fc.constantFrom('f', 'g'), commandId: fc.constant('c1'), until: soon })),
      fc.constantFrom('f', 'g'),
      soon,
      fc.boolean(),
    ),
  },

  // lib/jobs/rules.ts
  countsAt: {
    calls: product(STATES, TIMED_OUT, JOB_INSTANTS),
    sample: fc.tuple(stateArb, timedOutArb, jobSoon),
  },
  terminalCount: { calls: product(COUNTS), sample: fc.tuple(countsArb) },
  failureCount: { calls: product(COUNTS), sample: fc.tuple(countsArb) },
  failuresOf: { calls: product(ABORT_FAILURE_TYPES, COUNTS), sample: fc.tuple(fc.constantFrom(...ABORT_FAILURE_TYPES), countsArb) },
  judgedCount: { calls: product(COUNTS), sample: fc.tuple(countsArb) },
  shouldAbort: { calls: product(ABORTS, COUNTS), sample: fc.tuple(orUndefined(abortArb), countsArb) },
  jobStatusAt: {
    calls: [...READ_STATES.map(({ state, counts, at }) => [state, counts, at]), ...product(STATES, LISTED_COUNTS, [T0, T0 + TTL])],
    sample: fc.tuple(stateArb, countsArb, jobSoon),
  },
  abortAt: {
    calls: [...READ_STATES.map(({ state, counts, at }) => [state, counts, at]), ...product(STATES, LISTED_COUNTS, [T0 + 40])],
    sample: fc.tuple(stateArb, countsArb, jobSoon),
  },
  endInstant: { calls: product(STATES, JOB_INSTANTS), sample: fc.tuple(stateArb, jobSoon) },
  ended: { calls: product(STATES, ENDS), sample: fc.tuple(stateArb, endArb) },
  cancelJob: {
    calls: READ_STATES.flatMap(({ state, counts, at }) => CANCELLATIONS.map((cancellation) => [state, counts, { ...cancellation, at }])),
    sample: fc.tuple(
      stateArb,
      countsArb,
      fc.record({ reason: orUndefined(fc.constantFrom('maintenance', '')), force: fc.boolean(), at: jobSoon }),
    ),
  },
  pauseJob: {
    calls: READ_STATES.flatMap(({ state, counts, at }) => PAUSES.map((change) => [state, counts, { ...change, at }])),
    sample: fc.tuple(
      stateArb,
      countsArb,
      fc.record({ paused: fc.boolean(), reason: orUndefined(fc.constantFrom('hold', '')), at: jobSoon }),
    ),
  },
  isJobEnded: { calls: product(JOB_STATUSES), sample: fc.tuple(fc.constantFrom(...JOB_STATUSES)) },
  rolloutStopped: { calls: product(SPECS, JOB_INSTANTS), sample: fc.tuple(specArb, jobSoon) },
  scheduledEndDue: { calls: product(STATES, JOB_INSTANTS), sample: fc.tuple(stateArb, jobSoon) },
  scheduledEnd: {
    calls: [...READ_STATES.map(({ state, counts, at }) => [state, counts, at]), ...product(STATES, LISTED_COUNTS, [T0 + 40, T0 + 60])],
    sample: fc.tuple(stateArb, countsArb, jobSoon),
  },
  takesJoiner: {
    calls: product(JOB_STATUSES, SPECS, [T0, T0 + 39, T0 + 40, T0 + TTL]),
    sample: fc.tuple(fc.constantFrom(...JOB_STATUSES), specArb, jobSoon),
  },
  jobGoneAt: { calls: product(SPECS, RETENTIONS), sample: fc.tuple(specArb, retentionArb) },
  // The store passes MAX_JOB_TARGETS in.
  targetsOutcome: {
    calls: product([0, 1, 2, MAX_JOB_TARGETS - 1, MAX_JOB_TARGETS, MAX_JOB_TARGETS + 1, 10 * MAX_JOB_TARGETS], [false, true]),
    sample: fc.tuple(fc.nat({ max: MAX_JOB_TARGETS + 2 }), fc.boolean()),
    luaArgs: (args) => [...args, MAX_JOB_TARGETS],
  },
  rolloutAllows: {
    calls: product([undefined, 1, 3], [0, 1, 2, 3, 4, 1_000_000]),
    sample: fc.tuple(orUndefined(fc.integer({ min: 1, max: 5 })), fc.nat({ max: 6 })),
  },
  rolloutWindowStart: {
    calls: product([...JOB_INSTANTS, T0 + 60_000]),
    sample: fc.tuple(fc.integer({ min: 60_000, max: Number.MAX_SAFE_INTEGER })),
  },
  mayDeliver: {
    calls: product(
      JOB_STATUSES,
      SPECS,
      [T0, T0 + TTL - 1, T0 + TTL, T0 + TTL + 1],
      product([true, false], [false, true]).map(([isTarget, hasExecution]) => ({ isTarget, hasExecution })),
      [0, 2, 3, 4],
      [undefined, 1, 3],
    ),
    sample: fc.tuple(
      fc.constantFrom(...JOB_STATUSES),
      specArb,
      jobSoon,
      fc.record({ isTarget: fc.boolean(), hasExecution: fc.boolean() }),
      fc.nat({ max: 6 }),
      orUndefined(fc.integer({ min: 1, max: 5 })),
    ),
  },
  rolloutRate: {
    calls: product(ROLLOUTS, [...TALLIES, ...STATES.map((state) => state.tally), ...RATE_TALLIES]),
    sample: fc.tuple(orUndefined(rolloutArb), tallyArb),
  },
  executionRecord: {
    calls: product(SPECS, ['a1', 'a7'], [T0, T0 + 1, T0 + 100]),
    sample: fc.tuple(specArb, fc.constantFrom('a1', 'a:b'), jobSoon),
  },
  phaseOf: { calls: product([...EXECUTIONS, ...RECORDS]), sample: fc.tuple(executionArb) },
  deadlineEntry: { calls: product([...EXECUTIONS, ...RECORDS]), sample: fc.tuple(executionArb) },
  retally: {
    calls: TALLIES.flatMap((tally) =>
      MOVES.flatMap(([before, after]) => product([tally], [before], [after], [T0 + 1, T0 + 2, T0 + 9, T0 + 50, T0 + 60])),
    ),
    sample: fc.tuple(tallyArb, orUndefined(executionArb), executionArb, jobSoon),
  },
  settledExecution: {
    calls: product(distinct([...EXECUTIONS, ...RECORDS]), [undefined, ...ENDS], RETENTIONS),
    sample: fc.tuple(executionArb, orUndefined(endArb), retentionArb),
  },
  undeliveredStatus: { calls: product(STATES, JOB_INSTANTS), sample: fc.tuple(stateArb, jobSoon) },
  maxAttempts: {
    calls: product(
      [undefined, retryTwice, retryByType, { criteria: [{ failureType: 'failed' as const, maxAttempts: 5 }] }],
      ['failed', 'timed_out'],
    ),
    sample: fc.tuple(orUndefined(retryArb), fc.constantFrom('failed', 'timed_out')),
  },
  retryCutoff: { calls: product(STATES), sample: fc.tuple(stateArb) },
  retriesTimeout: { calls: product(SPECS, RETRY_RECORDS), sample: fc.tuple(specArb, executionArb) },
  nextAttempt: { calls: product(RETRY_RECORDS, [T0 + 3, T0 + 50]), sample: fc.tuple(executionArb, jobSoon) },
  timeoutRetried: { calls: product(RETRY_RECORDS, STATES, JOB_INSTANTS), sample: fc.tuple(executionArb, stateArb, jobSoon) },
  failureRetried: { calls: product(RETRY_RECORDS, STATES, [T0 + 3, T0 + 5, T0 + 50]), sample: fc.tuple(executionArb, stateArb, jobSoon) },
  retryCanceled: { calls: product(RETRY_RECORDS, STATES, JOB_INSTANTS), sample: fc.tuple(executionArb, stateArb, jobSoon) },
  staleAttempt: {
    calls: product(RETRY_RECORDS, [
      ...REPORTS_AT(T0 + 9),
      ...REPORTS_AT(T0 + 9).map((report) => ({ ...report, attempt: 1 })),
      ...REPORTS_AT(T0 + 9).map((report) => ({ ...report, attempt: 2 })),
    ]),
    sample: fc.tuple(
      executionArb,
      fc.tuple(reportArb, orUndefined(fc.integer({ min: 1, max: 3 }))).map(([report, attempt]) => ({ ...report, attempt })),
    ),
  },

  // lib/auth/revocation.ts
  isRevokedUnread: { calls: product(TOKENS, MODES), sample: fc.tuple(tokenArb, modeArb) },
  needsRegistration: { calls: product(TOKENS, MODES), sample: fc.tuple(tokenArb, modeArb) },
  isUnderCutoff: { calls: product(IATS, CUTOFFS), sample: fc.tuple(orUndefined(secondsArb), orUndefined(cutoffArb)) },
  isRevoked: {
    calls: product(TOKENS, MODES, FACTS),
    sample: fc.tuple(
      tokenArb,
      modeArb,
      fc.record({ jtiRevoked: fc.boolean(), registered: fc.boolean(), subjectCutoff: orUndefined(cutoffArb) }),
    ),
  },
  // lib/auth/dpop.ts: what the gate read for the proof (undefined: nothing), this request's id.
  proofReplayed: {
    calls: product([undefined, 'request-1', 'request-2', ''], ['request-1', 'request-2']),
    sample: fc.tuple(orUndefined(fc.constantFrom('a', 'b', 'c')), fc.constantFrom('a', 'b', 'c')),
  },
  raisedCutoff: {
    calls: product([undefined, NOW_S, NOW_S - 50, Number.NaN], [NOW_S, NOW_S - 50, NOW_S + 20, 12.5, NOW_S + 0.9, -0.5]),
    sample: fc.tuple(orUndefined(fc.oneof(secondsArb, fc.double())), fc.oneof(secondsArb, fc.double())),
  },

  // lib/store/ratelimit.ts
  windowOf: {
    calls: WINDOWS_MS.flatMap((windowMs) => product(WINDOW_INSTANTS(windowMs), [windowMs])),
    sample: fc.tuple(fc.maxSafeNat(), fc.integer({ min: 1, max: 3_600_000 })),
  },
  slidingWindow: {
    calls: WINDOWS_MS.flatMap((windowMs) => product(WINDOW_COUNTS, WINDOW_INSTANTS(windowMs), [windowMs], [3, 5])),
    sample: fc.tuple(
      fc.record({ current: fc.nat({ max: 12 }), previous: fc.nat({ max: 12 }) }),
      fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.maxSafeNat()),
      fc.integer({ min: 1, max: 3_600_000 }),
      fc.integer({ min: 1, max: 12 }),
    ),
  },

  // lib/groups/membership.ts: the store passes the limit in.
  joinOutcome: {
    calls: product(
      [false, true],
      [
        0,
        1,
        membership.MAX_GROUPS_PER_AGENT - 4,
        membership.MAX_GROUPS_PER_AGENT - 1,
        membership.MAX_GROUPS_PER_AGENT,
        membership.MAX_GROUPS_PER_AGENT + 1,
      ],
    ),
    sample: fc.tuple(fc.boolean(), fc.nat({ max: membership.MAX_GROUPS_PER_AGENT + 2 })),
    luaArgs: (args) => [...args, membership.MAX_GROUPS_PER_AGENT],
  },
  leaveOutcome: { calls: product([false, true]), sample: fc.tuple(fc.boolean()) },
};

/** Random calls per rule, and their seed (fixed, so a failure replays). */
const SAMPLE_RUNS = 300;
const SEED = 19;
const callsOf = (table: RuleTable) => [...table.calls, ...fc.sample(table.sample, { numRuns: SAMPLE_RUNS, seed: SEED })];

describe('the rule table', () => {
  it('has calls for every rule file, and for no rule that is not one', () => {
    expect(RULES.length).toBeGreaterThan(0);
    expect(Object.keys(TABLES).sort()).toEqual(RULES);
  });

  it.each(RULES)('rules/%s names its twin: a function of that name in a known module', (rule) => {
    const twin = twinOf(rule);

    expect(twin.name, `rules/${rule}.lua: its first line names another function`).toBe(rule);
    expect(Object.keys(TWIN_MODULES), `rules/${rule}.lua mirrors a module this test does not know`).toContain(twin.module);
    expect(twin.fn, `${twin.module} has no function ${rule}`).toBeTypeOf('function');
  });
});

describe.skipIf(!HAS_REDIS)('each rule in EVAL answers as its TypeScript twin', () => {
  let redis: TcpClient;
  beforeAll(async () => {
    redis = await tcpClient();
  });
  afterAll(() => redis?.destroy());

  it.each(RULES)('rules/%s', async (rule) => {
    const table = TABLES[rule];
    const { module, fn } = twinOf(rule);
    if (table === undefined || fn === undefined) throw new Error(`rules/${rule}.lua: no calls for it in this table, or no twin`);
    const calls = callsOf(table);
    const expected = calls.map((args) => luaShape(fn(...args)));

    const answers = await evalRule(redis, rule, calls.map(table.luaArgs ?? ((args) => args)));

    const drift = calls.flatMap((args, i) => {
      const answer = answers[i];
      if (answer !== undefined && 'value' in answer && isDeepStrictEqual(answer.value, expected[i])) return [];
      return [{ args, typescript: expected[i], lua: answer }];
    });
    expect(
      drift.slice(0, 3),
      `rules/${rule}.lua answers otherwise than ${module} ${rule} on ${drift.length} of ${calls.length} calls`,
    ).toEqual([]);
    // The calls reach more than one answer: a table stuck on one branch would miss a drift in another.
    expect(distinct(expected).length, `every call of rules/${rule} gives the same answer`).toBeGreaterThan(1);
  });
});
