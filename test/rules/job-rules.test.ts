/**
 * The job rules as pure functions of (job state, time, event): counts by arithmetic at every
 * instant (the expiry's included), the abort at its threshold and one below, the cancel with and
 * without force, the completion time, the tally over every phase change of an execution, and
 * the counts checked against a recount of the executions over seeded random histories.
 */
import { describe, expect, it } from 'vitest';
import { applyReport, cancel, statusOf, type Transition } from '../../lib/commands/lifecycle.ts';
import { COMMAND_STATUSES, type CommandRecord, type CommandStatus, type Report } from '../../lib/commands/model.ts';
import {
  type JobCounts,
  type JobSpec,
  type JobState,
  type JobTally,
  MAX_ROLLOUT_PER_MINUTE,
  type TimedOutTally,
} from '../../lib/jobs/model.ts';
import {
  ABORT_REASON,
  abortAt,
  cancelJob,
  countsAt,
  createdJob,
  deadlineEntry,
  ended,
  endInstant,
  executionRecord,
  failureCount,
  failuresOf,
  isJobEnded,
  pauseJob,
  JOB_CANCEL_REASON,
  jobCompletedAt,
  jobGoneAt,
  jobSnapshot,
  jobStatusAt,
  mayDeliver,
  needsSettling,
  phaseOf,
  retally,
  rolloutAllows,
  rolloutRate,
  SCHEDULE_END_REASON,
  scheduledEnd,
  scheduledEndDue,
  takesJoiner,
  rolloutWindowStart,
  settledExecution,
  shouldAbort,
  targetAdded,
  terminalCount,
  judgedCount,
  undeliveredStatus,
} from '../../lib/jobs/rules.ts';

const T0 = Date.UTC(2026, 0, 1);
const TTL = 100_000;
const RETENTION = 60_000;
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

/** A job's state with its tally set directly (the counters a store would have written). */
const stateOf = (tally: Partial<JobTally>, spec: JobSpec = specOf()): JobState => {
  const made = createdJob(spec, 1, tally.targets ?? 10);
  return { ...made, tally: { ...made.tally, ...tally } };
};

const zero: JobCounts = Object.fromEntries(COMMAND_STATUSES.map((status) => [status, 0])) as JobCounts;
const countsOf = (some: Partial<JobCounts>): JobCounts => ({ ...zero, ...some });

const result = (status: 'completed' | 'failed' | 'rejected', at: number): Report => ({ status, resultJson: undefined, completedAt: at });
const progress = (at: number, timeoutMs?: number): Report => ({ status: 'in_progress', statusDetailsJson: undefined, timeoutMs, at });
const accepted = (transition: Transition): CommandRecord => {
  if (transition.outcome.outcome !== 'accepted' || transition.record === undefined) throw new Error('not accepted');
  return transition.record;
};

describe('createdJob and countsAt', () => {
  it('counts every target pending at creation and nothing else', () => {
    const state = createdJob(specOf(), 7, 5);

    expect(state).toMatchObject({ seq: 7, tally: { targets: 5, materialized: 0, updatedAt: T0 } });
    expect(state.end).toBeUndefined();
    expect(countsAt(state, NONE, T0)).toEqual(countsOf({ pending: 5 }));
  });

  it('takes executions whose deadline passed out of their written phase into timed_out', () => {
    const state = stateOf({ targets: 10, materialized: 6, delivered: 3, inProgress: 2, completed: 1 });

    const counts = countsAt(state, { delivered: 2, inProgress: 1, lastAt: T0 + 50 }, T0 + 60);

    expect(counts).toEqual(countsOf({ pending: 4, delivered: 1, in_progress: 1, completed: 1, timed_out: 3 }));
  });

  it('turns pending, delivered and in-progress into expired exactly at the expiry instant, not a millisecond before', () => {
    const state = stateOf({ targets: 10, materialized: 6, delivered: 3, inProgress: 2, failed: 1 });
    const timedOut: TimedOutTally = { delivered: 1, inProgress: 0, lastAt: T0 + 10 };

    const before = countsAt(state, timedOut, T0 + TTL - 1);
    const at = countsAt(state, timedOut, T0 + TTL);

    expect(before).toEqual(countsOf({ pending: 4, delivered: 2, in_progress: 2, failed: 1, timed_out: 1 }));
    expect(at).toEqual(countsOf({ expired: 8, failed: 1, timed_out: 1 }));
    expect(terminalCount(at)).toBe(10);
  });

  it('counts the targets a non-forced end canceled as canceled, and expires only what was delivered', () => {
    const end = { status: 'canceled' as const, at: T0 + 5, force: false, undelivered: 4 };
    const state = ended(stateOf({ targets: 10, materialized: 6, delivered: 5, canceled: 1 }), end);

    expect(countsAt(state, NONE, T0 + 6)).toEqual(countsOf({ delivered: 5, canceled: 5 }));
    expect(countsAt(state, NONE, T0 + TTL)).toEqual(countsOf({ expired: 5, canceled: 5 }));
  });

  it('answers the counts a forced cancel froze, whatever the time', () => {
    const final = countsOf({ completed: 2, canceled: 8 });
    const state = ended(stateOf({ targets: 10, materialized: 5, delivered: 3 }), {
      status: 'canceled',
      at: T0 + 5,
      force: true,
      undelivered: 5,
      final,
    });

    expect(countsAt(state, { delivered: 3, inProgress: 0, lastAt: T0 + 9 }, T0 + 10)).toBe(final);
    expect(countsAt(state, NONE, T0 + TTL + 1)).toBe(final);
  });

  it('adds a continuous joiner as one more pending target, nothing else changed', () => {
    const state = stateOf({ targets: 3, materialized: 1, delivered: 1, updatedAt: T0 + 4 });

    const grown = targetAdded(state);

    expect(grown.tally).toEqual({ ...state.tally, targets: 4 });
    expect(countsAt(grown, NONE, T0 + 5).pending).toBe(3);
  });

  it('keeps a job until its expiry plus the retention', () => {
    expect(jobGoneAt(specOf(), RETENTION)).toBe(T0 + TTL + RETENTION);
  });
});

describe('terminalCount, failureCount and shouldAbort', () => {
  const abort = { criteria: [{ failureType: 'all' as const, thresholdPercent: 25, minExecuted: 4 }] };

  it('counts every terminal state, and failed, rejected and timed_out as failures', () => {
    const counts = countsOf({
      pending: 9,
      delivered: 9,
      in_progress: 9,
      completed: 1,
      failed: 2,
      rejected: 3,
      timed_out: 4,
      canceled: 5,
      expired: 6,
    });

    expect(terminalCount(counts)).toBe(21);
    expect(failureCount(counts)).toBe(9);
  });

  it('aborts exactly at the threshold and not one failure below it', () => {
    expect(shouldAbort(abort, countsOf({ completed: 3, failed: 1 }))).toBe(true); // 25 %
    expect(shouldAbort(abort, countsOf({ completed: 4, failed: 1 }))).toBe(false); // 20 %
    expect(
      shouldAbort({ criteria: [{ failureType: 'all', thresholdPercent: 26, minExecuted: 4 }] }, countsOf({ completed: 3, failed: 1 })),
    ).toBe(false);
  });

  it('aborts exactly at min_executed terminal executions and not one below', () => {
    expect(shouldAbort(abort, countsOf({ failed: 3, pending: 100 }))).toBe(false);
    expect(shouldAbort(abort, countsOf({ failed: 3, canceled: 1, pending: 100 }))).toBe(true);
  });

  it('counts rejected and timed_out against the threshold, canceled and expired only as terminal', () => {
    expect(shouldAbort(abort, countsOf({ rejected: 1, completed: 3 }))).toBe(true);
    expect(shouldAbort(abort, countsOf({ timed_out: 1, completed: 3 }))).toBe(true);
    expect(shouldAbort(abort, countsOf({ canceled: 4, expired: 4 }))).toBe(false);
    expect(shouldAbort(abort, countsOf({ failed: 1, canceled: 3, expired: 4 }))).toBe(true);
    expect(
      shouldAbort({ criteria: [{ failureType: 'all' as const, thresholdPercent: 100, minExecuted: 1 }] }, countsOf({ failed: 1 })),
    ).toBe(true);
  });

  it('judges the threshold without the expired: the expiry alone neither aborts a job nor dilutes a share reached before it', () => {
    expect(judgedCount(countsOf({ failed: 1, expired: 5 }))).toBe(1);
    // One timed out, one expired undelivered: 50 % of terminal, but the expiry decides nothing.
    expect(
      shouldAbort(
        { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] },
        countsOf({ timed_out: 1, expired: 1 }),
      ),
    ).toBe(false);
    // A timeout reached 50 % before the expiry; the expiry of three others does not dilute it.
    expect(
      shouldAbort(
        { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 1 }] },
        countsOf({ timed_out: 1, expired: 3 }),
      ),
    ).toBe(true);
  });

  it('judges each criterion on its own failure type, and aborts when any one is met', () => {
    const criteria = [
      { failureType: 'timed_out' as const, thresholdPercent: 50, minExecuted: 2 },
      { failureType: 'rejected' as const, thresholdPercent: 30, minExecuted: 3 },
    ];
    expect(failuresOf('timed_out', countsOf({ timed_out: 2, failed: 5 }))).toBe(2);
    expect(failuresOf('all', countsOf({ timed_out: 2, failed: 5, rejected: 1 }))).toBe(8);
    // Failed alone never reaches either: 100 % failed, no timeout, no rejection.
    expect(shouldAbort({ criteria }, countsOf({ failed: 10 }))).toBe(false);
    // One timed out of two judged: 50 %, at min_executed 2.
    expect(shouldAbort({ criteria }, countsOf({ timed_out: 1, completed: 1 }))).toBe(true);
    expect(shouldAbort({ criteria }, countsOf({ timed_out: 1, completed: 2 }))).toBe(false);
    // One rejected of three: 33 % >= 30 %, at min_executed 3; of four: 25 %, not.
    expect(shouldAbort({ criteria }, countsOf({ rejected: 1, completed: 2 }))).toBe(true);
    expect(shouldAbort({ criteria }, countsOf({ rejected: 1, completed: 3 }))).toBe(false);
    // Below a criterion's own min_executed, its share does not count.
    expect(shouldAbort({ criteria }, countsOf({ rejected: 2 }))).toBe(false);
  });

  it('never aborts a job without an abort config', () => {
    expect(shouldAbort(undefined, countsOf({ failed: 100 }))).toBe(false);
  });
});

describe('jobStatusAt and abortAt', () => {
  const guarded = specOf({ abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 2 }] } });

  it('is in progress while anything can change, completed once nothing can', () => {
    expect(jobStatusAt(stateOf({}), countsOf({ pending: 1 }), T0)).toBe('in_progress');
    expect(jobStatusAt(stateOf({}), countsOf({ delivered: 1, completed: 3 }), T0)).toBe('in_progress');
    expect(jobStatusAt(stateOf({}), countsOf({ completed: 3, failed: 1 }), T0)).toBe('completed');
    expect(jobStatusAt(createdJob(specOf(), 1, 0), countsOf({}), T0)).toBe('completed');
  });

  it('keeps a continuous job in progress until its expiry, even with nothing left to run', () => {
    const state = stateOf({ targets: 0 }, specOf({ continuous: true }));

    expect(jobStatusAt(state, countsOf({}), T0 + TTL - 1)).toBe('in_progress');
    expect(jobStatusAt(state, countsOf({}), T0 + TTL)).toBe('completed');
  });

  it('is aborted once the threshold is reached, before anything is written', () => {
    const state = stateOf({ targets: 10, materialized: 2, failed: 1, completed: 1 }, guarded);

    expect(jobStatusAt(state, countsAt(state, NONE, T0 + 1), T0 + 1)).toBe('aborted');
  });

  it('writes the abort the first time the threshold is seen: every undelivered target canceled then', () => {
    const state = stateOf({ targets: 10, materialized: 3, delivered: 1, failed: 1, completed: 1 }, guarded);
    const at = T0 + 40;

    const end = abortAt(state, countsAt(state, NONE, at), at);

    expect(end).toEqual({ status: 'aborted', at, reason: ABORT_REASON, force: false, undelivered: 7 });
    const after = ended(state, end as NonNullable<typeof end>);
    expect(after.tally.updatedAt).toBe(at);
    expect(countsAt(after, NONE, at + 1)).toEqual(countsOf({ delivered: 1, failed: 1, completed: 1, canceled: 7 }));
    expect(abortAt(after, countsAt(after, NONE, at + 1), at + 1)).toBeUndefined();
  });

  it('writes nothing one failure below the threshold', () => {
    const state = stateOf({ targets: 10, materialized: 3, failed: 1, completed: 2 }, guarded);

    expect(abortAt(state, countsAt(state, NONE, T0 + 1), T0 + 1)).toBeUndefined();
  });

  it('writes an abort a timeout alone reached, at the instant it is met', () => {
    const state = stateOf({ targets: 4, materialized: 2, delivered: 1, completed: 1 }, guarded);
    const timedOut: TimedOutTally = { delivered: 1, inProgress: 0, lastAt: T0 + 30 };

    expect(abortAt(state, countsAt(state, NONE, T0 + 29), T0 + 29)).toBeUndefined();
    expect(abortAt(state, countsAt(state, timedOut, T0 + 35), T0 + 35)).toMatchObject({ at: T0 + 35, undelivered: 2 });
  });

  it('stamps an abort met by a clock behind the last change at that change, never before it', () => {
    // The failure that crossed the threshold was reported at T0 + 45 by a clock ahead; a request
    // on a clock at T0 + 20 meets the job next (Redis orders it later).
    const state = stateOf(
      { targets: 10, materialized: 3, delivered: 1, failed: 1, completed: 1, lastEndAt: T0 + 45, updatedAt: T0 + 45 },
      guarded,
    );

    expect(abortAt(state, countsAt(state, NONE, T0 + 20), T0 + 20)).toMatchObject({ at: T0 + 45, undelivered: 7 });
    expect(abortAt(state, countsAt(state, NONE, T0 + 60), T0 + 60)).toMatchObject({ at: T0 + 60 });
  });

  it('keeps a written end whatever the counts say later', () => {
    const state = ended(stateOf({}), { status: 'canceled', at: T0 + 1, force: false, undelivered: 10 });

    expect(jobStatusAt(state, countsOf({ failed: 10 }), T0 + TTL)).toBe('canceled');
  });
});

describe('pauseJob', () => {
  const live = stateOf({ targets: 10, materialized: 4, delivered: 2, inProgress: 1, completed: 1 });
  const at = T0 + 50;
  const pause = (state: JobState, paused: boolean, when = at, reason?: string) =>
    pauseJob(state, countsAt(state, NONE, when), { paused, reason, at: when });

  it('pauses a job in progress: status paused, nothing delivered by mayDeliver, the counts as they were', () => {
    const { outcome, state } = pause(live, true, at, 'canary failures');

    expect(outcome).toBe('accepted');
    expect(state.pause).toEqual({ paused: true, at, reason: 'canary failures' });
    expect(state.tally.updatedAt).toBe(at);
    const counts = countsAt(state, NONE, at + 1);
    expect(counts).toEqual(countsAt(live, NONE, at + 1));
    expect(jobStatusAt(state, counts, at + 1)).toBe('paused');
    expect(mayDeliver('paused', state.spec, at + 1, { isTarget: true, hasExecution: false }, 0, undefined)).toBe(false);
  });

  it('answers unchanged to a pause of a paused job and a resume of one in progress, the state untouched', () => {
    const paused = pause(live, true).state;

    expect(pause(paused, true, at + 10)).toEqual({ outcome: 'unchanged', state: paused });
    expect(pause(live, false)).toEqual({ outcome: 'unchanged', state: live });
  });

  it('resumes a paused job: in progress again, the reason the resume gave kept', () => {
    const paused = pause(live, true).state;

    const { outcome, state } = pause(paused, false, at + 10, 'fixed');

    expect(outcome).toBe('accepted');
    expect(state.pause).toEqual({ paused: false, at: at + 10, reason: 'fixed' });
    expect(jobStatusAt(state, countsAt(state, NONE, at + 10), at + 10)).toBe('in_progress');
  });

  it('is refused once the job has ended; a paused job still completes, aborts and may be canceled', () => {
    const done = stateOf({ targets: 2, materialized: 2, completed: 2 });
    const canceled = cancelJob(live, countsAt(live, NONE, at), { reason: undefined, force: false, at }).state;
    for (const state of [done, canceled]) {
      expect(pause(state, true)).toEqual({ outcome: 'refused', state });
      expect(pause(state, false)).toEqual({ outcome: 'refused', state });
    }
    const pausedDone = { ...done, pause: { paused: true, at } };
    expect(jobStatusAt(pausedDone, countsAt(pausedDone, NONE, at), at)).toBe('completed');
    const paused = pause(live, true).state;
    expect(cancelJob(paused, countsAt(paused, NONE, at + 1), { reason: undefined, force: false, at: at + 1 }).outcome).toBe('accepted');
    expect(isJobEnded('paused')).toBe(false);
    expect(isJobEnded('aborted')).toBe(true);
  });
});

describe('cancelJob', () => {
  const live = stateOf({ targets: 10, materialized: 4, delivered: 2, inProgress: 1, completed: 1 });
  const at = T0 + 50;

  it('cancels every undelivered target and lets delivered executions run on, without force', () => {
    const { outcome, state } = cancelJob(live, countsAt(live, NONE, at), { reason: 'maintenance', force: false, at });

    expect(outcome).toBe('accepted');
    expect(state.end).toEqual({ status: 'canceled', at, reason: 'maintenance', force: false, undelivered: 6 });
    expect(countsAt(state, NONE, at + 1)).toEqual(countsOf({ delivered: 2, in_progress: 1, completed: 1, canceled: 6 }));
    expect(jobStatusAt(state, countsAt(state, NONE, at + 1), at + 1)).toBe('canceled');
  });

  it('with force cancels the delivered and in-progress executions too, and freezes the counts', () => {
    const timedOut: TimedOutTally = { delivered: 1, inProgress: 0, lastAt: at - 5 };

    const { outcome, state } = cancelJob(live, countsAt(live, timedOut, at), { reason: undefined, force: true, at });

    expect(outcome).toBe('accepted');
    const final = countsOf({ completed: 1, timed_out: 1, canceled: 8 });
    expect(state.end).toEqual({ status: 'canceled', at, force: true, undelivered: 6, final });
    expect(state.end).not.toHaveProperty('reason');
    expect(countsAt(state, { delivered: 2, inProgress: 1, lastAt: at + 9 }, at + 10)).toEqual(final);
  });

  it('is refused once the job has ended, the state untouched', () => {
    const aborted = ended(live, { status: 'aborted', at: T0 + 1, reason: ABORT_REASON, force: false, undelivered: 6 });
    const done = stateOf({ targets: 2, materialized: 2, completed: 2 });
    const canceled = cancelJob(live, countsAt(live, NONE, at), { reason: undefined, force: false, at }).state;

    for (const state of [aborted, done, canceled]) {
      const answer = cancelJob(state, countsAt(state, NONE, at + 1), { reason: 'again', force: true, at: at + 1 });
      expect(answer).toEqual({ outcome: 'refused', state });
    }
  });

  it("is made at the job's last change when the caller's clock is behind it (endInstant)", () => {
    // A delivery at T0 + 55 by a clock ahead, then a cancel by a clock at T0 + 50.
    const touched: JobState = { ...live, tally: { ...live.tally, updatedAt: T0 + 55 } };
    expect(endInstant(touched, at)).toBe(T0 + 55);
    expect(endInstant(touched, T0 + 60)).toBe(T0 + 60);

    for (const force of [false, true]) {
      const { outcome, state } = cancelJob(touched, countsAt(touched, NONE, T0 + 55), { reason: undefined, force, at });
      expect(outcome).toBe('accepted');
      expect(state.end?.at).toBe(T0 + 55);
      expect(state.tally.updatedAt).toBe(T0 + 55);
      expect(jobSnapshot(state, NONE, T0 + 55).completedAt).toBe(T0 + 55);
    }
    const made = executionRecord(specOf(), 'a1', T0 + 55);
    const forced = cancelJob(touched, countsAt(touched, NONE, T0 + 55), { reason: undefined, force: true, at }).state;
    const settled = settledExecution(made, forced.end, RETENTION);
    expect(settled.completedAt).toBe(T0 + 55);
    expect(settled.completedAt).toBeGreaterThanOrEqual(settled.deliveredAt as number);
  });

  it('is refused at the expiry instant, when the job has completed by time', () => {
    const at = T0 + TTL;

    expect(cancelJob(live, countsAt(live, NONE, at), { reason: undefined, force: false, at }).outcome).toBe('refused');
    const justBefore = at - 1;
    expect(cancelJob(live, countsAt(live, NONE, justBefore), { reason: undefined, force: false, at: justBefore }).outcome).toBe('accepted');
  });
});

describe('jobCompletedAt and jobSnapshot', () => {
  it('has no completion time while in progress', () => {
    const state = stateOf({ targets: 2, materialized: 1, completed: 1, lastEndAt: T0 + 5 });

    expect(jobCompletedAt(state, countsAt(state, NONE, T0 + 6), NONE, T0 + 6)).toBeUndefined();
  });

  it('completes at the last end of an execution, written or by a timeout', () => {
    const state = stateOf({ targets: 3, materialized: 3, delivered: 1, completed: 2, lastEndAt: T0 + 20 });
    const late: TimedOutTally = { delivered: 1, inProgress: 0, lastAt: T0 + 30 };
    const early: TimedOutTally = { delivered: 1, inProgress: 0, lastAt: T0 + 10 };

    expect(jobCompletedAt(state, countsAt(state, late, T0 + 40), late, T0 + 40)).toBe(T0 + 30);
    expect(jobCompletedAt(state, countsAt(state, early, T0 + 40), early, T0 + 40)).toBe(T0 + 20);
  });

  it('completes at the expiry when anything expired, and a continuous job always at its expiry', () => {
    const leftOver = stateOf({ targets: 3, materialized: 2, completed: 2, lastEndAt: T0 + 20 });
    const continuous = stateOf({ targets: 1, materialized: 1, completed: 1, lastEndAt: T0 + 20 }, specOf({ continuous: true }));
    const now = T0 + TTL;

    expect(jobCompletedAt(leftOver, countsAt(leftOver, NONE, now), NONE, now)).toBe(T0 + TTL);
    expect(jobCompletedAt(continuous, countsAt(continuous, NONE, now), NONE, now)).toBe(T0 + TTL);
  });

  it('completes a job with no target at its creation, and an ended one at its end', () => {
    const empty = createdJob(specOf(), 1, 0);
    const canceled = ended(stateOf({}), { status: 'canceled', at: T0 + 7, force: false, undelivered: 10 });

    expect(jobCompletedAt(empty, countsAt(empty, NONE, T0), NONE, T0)).toBe(T0);
    expect(jobCompletedAt(canceled, countsAt(canceled, NONE, T0 + 9), NONE, T0 + 9)).toBe(T0 + 7);
  });

  it('reads status, counts, completion and the last change together', () => {
    const state = stateOf({ targets: 2, materialized: 2, delivered: 1, completed: 1, lastEndAt: T0 + 20, updatedAt: T0 + 20 });
    const timedOut: TimedOutTally = { delivered: 1, inProgress: 0, lastAt: T0 + 30 };

    const during = jobSnapshot(state, NONE, T0 + 25);
    const after = jobSnapshot(state, timedOut, T0 + 35);

    expect(during).toMatchObject({ status: 'in_progress', completedAt: undefined, updatedAt: T0 + 20 });
    expect(during.counts).toEqual(countsOf({ delivered: 1, completed: 1 }));
    expect(after).toMatchObject({ status: 'completed', completedAt: T0 + 30, updatedAt: T0 + 30, spec: state.spec, end: undefined });
  });

  it('moves the last change to a timeout and to the expiry, as a command read at that instant does', () => {
    const state = stateOf({ targets: 3, materialized: 2, delivered: 2, updatedAt: T0 + 10 });
    const timedOut: TimedOutTally = { delivered: 1, inProgress: 0, lastAt: T0 + 30 };

    expect(jobSnapshot(state, timedOut, T0 + 40).updatedAt).toBe(T0 + 30);
    expect(jobSnapshot(state, timedOut, T0 + TTL + 5).updatedAt).toBe(T0 + TTL);
  });
});

describe('rollout and mayDeliver', () => {
  const spec = specOf({ rollout: { maxPerMinute: 3 } });
  const target = { isTarget: true, hasExecution: false };

  it('allows another first delivery while fewer than max_per_minute were made in the window', () => {
    expect(rolloutAllows(3, 2)).toBe(true);
    expect(rolloutAllows(3, 3)).toBe(false);
    expect(rolloutAllows(undefined, 1_000_000)).toBe(true);
    expect(rolloutWindowStart(T0 + 60_000)).toBe(T0);
  });

  it('delivers only to a target without an execution, while the job is in progress and before its expiry', () => {
    expect(mayDeliver('in_progress', spec, T0, target, 2, 3)).toBe(true);
    expect(mayDeliver('in_progress', spec, T0, target, 3, 3)).toBe(false);
    expect(mayDeliver('aborted', spec, T0, target, 0, 3)).toBe(false);
    expect(mayDeliver('canceled', spec, T0, target, 0, 3)).toBe(false);
    expect(mayDeliver('in_progress', spec, T0 + TTL, target, 0, 3)).toBe(false);
    expect(mayDeliver('in_progress', spec, T0 + TTL - 1, target, 0, 3)).toBe(true);
    expect(mayDeliver('in_progress', spec, T0, { isTarget: false, hasExecution: false }, 0, 3)).toBe(false);
    expect(mayDeliver('in_progress', spec, T0, { isTarget: true, hasExecution: true }, 0, 3)).toBe(false);
  });
});

describe('schedule: jobStatusAt, countsAt, undeliveredStatus, mayDeliver, scheduledEnd, takesJoiner', () => {
  const live = stateOf({ targets: 10, materialized: 4, delivered: 2, inProgress: 1, completed: 1 });
  const withSchedule = (endBehavior: 'stop_rollout' | 'cancel' | 'force_cancel', extra: Partial<JobSpec> = {}) => ({
    ...live,
    spec: specOf({ schedule: { startAt: T0 + 10, endAt: T0 + 40, endBehavior }, ...extra }),
  });
  const target = { isTarget: true, hasExecution: false };

  it('is scheduled before start_at, in progress from it, and delivers nothing before it or from end_at', () => {
    const state = withSchedule('stop_rollout');
    expect(jobStatusAt(state, countsAt(state, NONE, T0 + 9), T0 + 9)).toBe('scheduled');
    expect(jobStatusAt(state, countsAt(state, NONE, T0 + 10), T0 + 10)).toBe('in_progress');
    expect(mayDeliver('scheduled', state.spec, T0 + 9, target, 0, undefined)).toBe(false);
    expect(mayDeliver('in_progress', state.spec, T0 + 39, target, 0, undefined)).toBe(true);
    expect(mayDeliver('in_progress', state.spec, T0 + 40, target, 0, undefined)).toBe(false);
  });

  it('stop_rollout: from end_at the undelivered count canceled (schedule_ended), the job completes once the delivered finish', () => {
    const state = withSchedule('stop_rollout');
    expect(countsAt(state, NONE, T0 + 39)).toEqual(countsOf({ pending: 6, delivered: 2, in_progress: 1, completed: 1 }));
    expect(countsAt(state, NONE, T0 + 40)).toEqual(countsOf({ canceled: 6, delivered: 2, in_progress: 1, completed: 1 }));
    expect(undeliveredStatus(state, T0 + 40)).toEqual({ status: 'canceled', reason: SCHEDULE_END_REASON, endedAt: T0 + 40 });
    expect(undeliveredStatus(state, T0 + 39)).toEqual({ status: 'pending', reason: undefined, endedAt: undefined });
    expect(jobStatusAt(state, countsAt(state, NONE, T0 + 40), T0 + 40)).toBe('in_progress');
    const done = { ...state, tally: { ...state.tally, delivered: 0, inProgress: 0, completed: 4, lastEndAt: T0 + 50 } };
    const counts = countsAt(done, NONE, T0 + 60);
    expect(jobStatusAt(done, counts, T0 + 60)).toBe('completed');
    expect(jobCompletedAt(done, counts, NONE, T0 + 60)).toBe(T0 + 50);
  });

  it('cancel and force_cancel: the end written at end_at from the counts then; not before it, nor over an abort or an end', () => {
    const state = withSchedule('cancel');
    expect(scheduledEndDue(state, T0 + 39)).toBe(false);
    expect(scheduledEndDue(state, T0 + 40)).toBe(true);
    expect(scheduledEnd(state, countsAt(state, NONE, T0 + 40), T0 + 99)).toEqual({
      status: 'canceled',
      at: T0 + 40,
      reason: SCHEDULE_END_REASON,
      force: false,
      undelivered: 6,
    });
    const forced = withSchedule('force_cancel');
    expect(scheduledEnd(forced, countsAt(forced, NONE, T0 + 40), T0 + 41)?.final).toEqual(countsOf({ completed: 1, canceled: 9 }));
    expect(scheduledEndDue(withSchedule('stop_rollout'), T0 + 99)).toBe(false);
    const abort = { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 1 }] };
    const failing = { ...withSchedule('cancel', { abort }), tally: { ...live.tally, completed: 0, failed: 1 } };
    expect(scheduledEnd(failing, countsAt(failing, NONE, T0 + 40), T0 + 40)).toBeUndefined();
  });

  it('takes no joiner past end_at, nor once ended', () => {
    const { spec } = withSchedule('stop_rollout', { continuous: true });
    expect(takesJoiner('in_progress', spec, T0 + 39)).toBe(true);
    expect(takesJoiner('paused', spec, T0 + 39)).toBe(true);
    expect(takesJoiner('in_progress', spec, T0 + 40)).toBe(false);
    expect(takesJoiner('canceled', spec, T0 + 1)).toBe(false);
  });
});

describe('rolloutRate', () => {
  const tallyOf = (materialized: number, completed = 0) => ({ ...createdJob(specOf(), 1, 100).tally, materialized, completed });
  const exponential = (kind: 'notified' | 'succeeded', count: number, tenths = 20, base = 1) => ({
    basePerMinute: base,
    incrementFactorTenths: tenths,
    increaseAfter: { kind, count },
  });

  it('is max_per_minute without an exponential rate, and none without a rollout', () => {
    expect(rolloutRate({ maxPerMinute: 7 }, tallyOf(50))).toBe(7);
    expect(rolloutRate(undefined, tallyOf(50))).toBeUndefined();
  });

  it('multiplies the base by the factor at the very delivery that crosses each N, floored, capped by max_per_minute', () => {
    const rollout = { maxPerMinute: 6, exponential: exponential('notified', 2) };
    expect([0, 1, 2, 3, 4, 5, 6, 100].map((n) => rolloutRate(rollout, tallyOf(n)))).toEqual([1, 1, 2, 2, 4, 4, 6, 6]);
    // 1.5 from 3: 4 (floor of 4.5), 6, 9.
    const tenths = { exponential: exponential('notified', 1, 15, 3) };
    expect([0, 1, 2, 3].map((n) => rolloutRate(tenths, tallyOf(n)))).toEqual([3, 4, 6, 9]);
  });

  it('counts completed executions for succeeded, delivered ones for notified', () => {
    const rollout = { exponential: exponential('succeeded', 3) };
    expect(rolloutRate(rollout, tallyOf(10, 2))).toBe(1);
    expect(rolloutRate(rollout, tallyOf(10, 3))).toBe(2);
    expect(rolloutRate(rollout, tallyOf(10, 9))).toBe(8);
  });

  it('stops where the floored factor no longer raises the rate, and at MAX_ROLLOUT_PER_MINUTE without a cap', () => {
    expect(rolloutRate({ exponential: exponential('notified', 1, 11, 1) }, tallyOf(1_000))).toBe(1);
    expect(rolloutRate({ exponential: exponential('notified', 1, 11, 10) }, tallyOf(2))).toBe(12);
    expect(rolloutRate({ exponential: exponential('notified', 1, 50, 1000) }, tallyOf(100_000))).toBe(MAX_ROLLOUT_PER_MINUTE);
  });
});

describe('executions: executionRecord, phaseOf, deadlineEntry', () => {
  it('makes the job command for the agent, delivered at once, its deadline started', () => {
    const record = executionRecord(specOf({ timeoutMs: 5_000 }), 'a7', T0 + 100);

    expect(record).toEqual({
      commandId: 'job-1',
      jobId: 'job-1',
      agentId: 'a7',
      command: 'restart',
      args: { service: 'nginx' },
      createdAt: T0,
      expiresAt: T0 + TTL,
      timeoutMs: 5_000,
      deliveredAt: T0 + 100,
      deliveryCount: 1,
      updatedAt: T0 + 100,
      deadlineAt: T0 + 5_100,
    });
    expect(phaseOf(record)).toBe('delivered');
    expect(deadlineEntry(record)).toBe(T0 + 5_100);
    expect(executionRecord(specOf(), 'a7', T0)).not.toHaveProperty('deadlineAt');
  });

  it('keeps a deadline entry only for a deadline before the expiry, and none once ended', () => {
    const record = executionRecord(specOf({ timeoutMs: 1_000 }), 'a1', T0);
    const started = accepted(applyReport(record, progress(T0 + 10), RETENTION));

    expect(phaseOf(started)).toBe('in_progress');
    expect(deadlineEntry({ ...started, deadlineAt: T0 + TTL - 1 })).toBe(T0 + TTL - 1);
    expect(deadlineEntry({ ...started, deadlineAt: T0 + TTL })).toBeUndefined();
    expect(deadlineEntry(executionRecord(specOf(), 'a1', T0))).toBeUndefined();
    const done = accepted(applyReport(started, result('completed', T0 + 20), RETENTION));
    expect(phaseOf(done)).toBe('ended');
    expect(deadlineEntry(done)).toBeUndefined();
  });
});

describe('retally', () => {
  const spec = specOf({ timeoutMs: 1_000 });
  const made = executionRecord(spec, 'a1', T0 + 1);
  const start = createdJob(spec, 1, 3).tally;

  it('counts the execution made: materialized and delivered', () => {
    expect(retally(start, undefined, made, T0 + 1)).toEqual({ ...start, materialized: 1, delivered: 1, updatedAt: T0 + 1 });
  });

  it('moves delivered to in_progress, and counts a further update only as a change', () => {
    const tally = retally(start, undefined, made, T0 + 1);
    const started = accepted(applyReport(made, progress(T0 + 2), RETENTION));
    const stepped = accepted(applyReport(started, progress(T0 + 3, 500), RETENTION));

    const once = retally(tally, made, started, T0 + 2);
    const twice = retally(once, started, stepped, T0 + 3);

    expect(once).toMatchObject({ materialized: 1, delivered: 0, inProgress: 1, updatedAt: T0 + 2 });
    expect(twice).toEqual({ ...once, updatedAt: T0 + 3 });
  });

  it.each([
    ['completed', 'delivered'],
    ['failed', 'delivered'],
    ['rejected', 'delivered'],
    ['completed', 'in_progress'],
    ['failed', 'in_progress'],
    ['rejected', 'in_progress'],
  ] as const)('moves one %s result from %s into its counter and stamps lastEndAt', (status, from) => {
    const before = from === 'delivered' ? made : accepted(applyReport(made, progress(T0 + 2), RETENTION));
    const tally = from === 'delivered' ? retally(start, undefined, made, T0 + 1) : retally(start, undefined, before, T0 + 2);
    const after = accepted(applyReport(before, result(status, T0 + 9), RETENTION));

    const next = retally(tally, before, after, T0 + 9);

    expect(next).toMatchObject({ delivered: 0, inProgress: 0, [status]: 1, lastEndAt: T0 + 9, updatedAt: T0 + 9 });
    expect(next.materialized).toBe(1);
  });

  it('moves a single cancel into canceled', () => {
    const tally = retally(start, undefined, made, T0 + 1);
    const after = accepted(cancel(made, { reason: 'stop', at: T0 + 4 }, RETENTION));

    expect(retally(tally, made, after, T0 + 4)).toMatchObject({ delivered: 0, canceled: 1, lastEndAt: T0 + 4 });
  });

  it('never moves updatedAt or lastEndAt backwards', () => {
    const tally: JobTally = { ...retally(start, undefined, made, T0 + 1), updatedAt: T0 + 50, lastEndAt: T0 + 50 };
    const after = accepted(applyReport(made, result('completed', T0 + 9), RETENTION));

    expect(retally(tally, made, after, T0 + 9)).toMatchObject({ updatedAt: T0 + 50, lastEndAt: T0 + 50, completed: 1 });
  });
});

describe('settledExecution and undeliveredStatus', () => {
  const spec = specOf();
  const live = executionRecord(spec, 'a1', T0 + 1);
  const forced = { status: 'canceled' as const, at: T0 + 10, force: true, undelivered: 0, final: countsOf({}) };

  it('leaves an execution alone without an end, or after an end without force', () => {
    const plain = { status: 'canceled' as const, at: T0 + 10, force: false, undelivered: 0 };

    for (const end of [undefined, plain]) {
      expect(needsSettling(live, end)).toBe(false);
      expect(settledExecution(live, end, RETENTION)).toBe(live);
    }
  });

  it('cancels at the forced cancel instant one not terminal then, with its reason or the default one', () => {
    const settled = settledExecution(live, { ...forced, reason: 'rollback' }, RETENTION);
    const unnamed = settledExecution(live, forced, RETENTION);

    expect(needsSettling(live, forced)).toBe(true);
    expect(settled).toMatchObject({ resultStatus: 'canceled', completedAt: T0 + 10, updatedAt: T0 + 10, cancelReason: 'rollback' });
    expect(unnamed.cancelReason).toBe(JOB_CANCEL_REASON);
    expect(needsSettling(settled, forced)).toBe(false);
  });

  it('keeps an execution that ended before the forced cancel, by a result or a timeout', () => {
    const done = accepted(applyReport(live, result('failed', T0 + 5), RETENTION));
    const timing = executionRecord(specOf({ timeoutMs: 5 }), 'a1', T0 + 1);

    expect(settledExecution(done, forced, RETENTION)).toBe(done);
    expect(statusOf(timing, forced.at)).toBe('timed_out');
    expect(needsSettling(timing, forced)).toBe(false);
    expect(settledExecution(timing, forced, RETENTION)).toBe(timing);
  });

  it('shows a target without an execution as pending, then expired at the expiry instant', () => {
    const state = stateOf({});

    expect(undeliveredStatus(state, T0 + TTL - 1)).toEqual({ status: 'pending', reason: undefined, endedAt: undefined });
    expect(undeliveredStatus(state, T0 + TTL)).toEqual({ status: 'expired', reason: undefined, endedAt: T0 + TTL });
  });

  it('shows it canceled by an end before the expiry, with the end reason', () => {
    const aborted = ended(stateOf({}), { status: 'aborted', at: T0 + 1, reason: ABORT_REASON, force: false, undelivered: 10 });
    const named = ended(stateOf({}), { status: 'canceled', at: T0 + 1, reason: 'oops', force: false, undelivered: 10 });
    const unnamed = ended(stateOf({}), { status: 'canceled', at: T0 + 1, force: true, undelivered: 10 });
    const late = ended(stateOf({}), { status: 'aborted', at: T0 + TTL, reason: ABORT_REASON, force: false, undelivered: 0 });

    expect(undeliveredStatus(aborted, T0 + TTL + 1)).toEqual({ status: 'canceled', reason: ABORT_REASON, endedAt: T0 + 1 });
    expect(undeliveredStatus(named, T0 + 2)).toEqual({ status: 'canceled', reason: 'oops', endedAt: T0 + 1 });
    expect(undeliveredStatus(unnamed, T0 + 2)).toEqual({ status: 'canceled', reason: JOB_CANCEL_REASON, endedAt: T0 + 1 });
    expect(undeliveredStatus(late, T0 + TTL)).toEqual({ status: 'expired', reason: undefined, endedAt: T0 + TTL });
  });
});

// --- Counts equal a recount of the executions ----------------------------------------------------

/** A job and its executions driven by the rules alone, as a store would, with nothing stored. */
class Model {
  state: JobState;
  readonly records = new Map<string, CommandRecord>();
  readonly targets: readonly string[];
  constructor(spec: JobSpec, targets: readonly string[]) {
    this.targets = targets;
    this.state = createdJob(spec, 1, targets.length);
  }

  timedOut(now: number): TimedOutTally {
    let delivered = 0;
    let inProgress = 0;
    let lastAt: number | undefined;
    for (const record of this.records.values()) {
      const deadline = deadlineEntry(record);
      if (deadline === undefined || deadline > now) continue;
      if (phaseOf(record) === 'delivered') delivered += 1;
      else inProgress += 1;
      lastAt = Math.max(lastAt ?? deadline, deadline);
    }
    return { delivered, inProgress, ...(lastAt === undefined ? {} : { lastAt }) };
  }

  /** What every store step does first: the abort written once reached. */
  meet(now: number): void {
    const end = abortAt(this.state, countsAt(this.state, this.timedOut(now), now), now);
    if (end) this.state = ended(this.state, end);
  }

  counts(now: number): JobCounts {
    return countsAt(this.state, this.timedOut(now), now);
  }

  poll(agentId: string, now: number): void {
    this.meet(now);
    const status = jobStatusAt(this.state, this.counts(now), now);
    if (!mayDeliver(status, this.state.spec, now, { isTarget: true, hasExecution: this.records.has(agentId) }, 0, undefined)) return;
    const record = executionRecord(this.state.spec, agentId, now);
    this.records.set(agentId, record);
    this.state = { ...this.state, tally: retally(this.state.tally, undefined, record, now) };
  }

  write(agentId: string, at: number, step: (record: CommandRecord) => Transition): void {
    const before = this.records.get(agentId);
    if (before === undefined) return;
    this.meet(at);
    const settled = settledExecution(before, this.state.end, RETENTION);
    this.records.set(agentId, settled);
    const { outcome, record } = step(settled);
    if (outcome.outcome !== 'accepted' || record === undefined) return;
    this.records.set(agentId, record);
    this.state = { ...this.state, tally: retally(this.state.tally, settled, record, at) };
    this.meet(at);
  }

  cancelJob(at: number, force: boolean): void {
    this.meet(at);
    this.state = cancelJob(this.state, this.counts(at), { reason: undefined, force, at }).state;
  }

  /** The statuses of every target one by one at `now`. */
  recount(now: number): JobCounts {
    const counts: Record<CommandStatus, number> = { ...zero };
    for (const agentId of this.targets) {
      const record = this.records.get(agentId);
      const status = record
        ? statusOf(settledExecution(record, this.state.end, RETENTION), now)
        : undeliveredStatus(this.state, now).status;
      counts[status] += 1;
    }
    return counts;
  }
}

/** A small deterministic generator (mulberry32), so a failing history can be replayed by its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('counts equal a recount of the executions', () => {
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))(
    'over the random history of seed %i, at every step and around the expiry',
    (seed) => {
      const next = random(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
      const targets = Array.from({ length: 2 + Math.floor(next() * 10) }, (_, i) => `a${i}`);
      const spec = specOf({
        continuous: next() < 0.2,
        ...(next() < 0.7 ? { timeoutMs: 1_000 + Math.floor(next() * 30_000) } : {}),
        ...(next() < 0.6
          ? {
              abort: {
                criteria: [
                  { failureType: 'all' as const, thresholdPercent: 1 + Math.floor(next() * 100), minExecuted: 1 + Math.floor(next() * 5) },
                ],
              },
            }
          : {}),
      });
      const model = new Model(spec, targets);
      let now = T0;
      for (let step = 0; step < 60 && now < T0 + TTL + 2_000; step += 1) {
        now += Math.floor(next() * 4_000);
        const agentId = pick(targets);
        const roll = next();
        if (roll < 0.4) model.poll(agentId, now);
        else if (roll < 0.6) model.write(agentId, now, (r) => applyReport(r, progress(now, next() < 0.3 ? 2_000 : undefined), RETENTION));
        else if (roll < 0.9)
          model.write(agentId, now, (r) => applyReport(r, result(pick(['completed', 'failed', 'rejected'] as const), now), RETENTION));
        else if (roll < 0.97) model.write(agentId, now, (r) => cancel(r, { reason: undefined, at: now }, RETENTION));
        else model.cancelJob(now, next() < 0.5);
        model.meet(now);
        expect(model.counts(now), `seed ${seed} step ${step} at +${now - T0}`).toEqual(model.recount(now));
        expect(
          terminalCount(model.counts(now)) + model.counts(now).pending + model.counts(now).delivered + model.counts(now).in_progress,
        ).toBe(targets.length);
      }
      for (const at of [T0 + TTL - 1, T0 + TTL, T0 + TTL + 1].filter((t) => t >= now)) {
        model.meet(at);
        expect(model.counts(at), `seed ${seed} at +${at - T0}`).toEqual(model.recount(at));
      }
    },
  );
});
