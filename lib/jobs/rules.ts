/**
 * The job rules, written once: pure functions of (job state, time, event). No storage, no HTTP.
 * The in-memory store calls them; the Lua twins in lib/store/lua/rules/ carry the name of the function they
 * mirror; the job suites keep the two in step.
 *
 *   a target ──first delivery, in the agent's own poll, when the brakes allow──▶ an execution
 *   (a command with commandId = jobId, born delivered; then lib/commands/lifecycle.ts)
 *
 * Job status: a written end (canceled, aborted) wins; then the abort threshold at `now`; then
 * `completed`: a job that is not continuous once no execution can change any more, a continuous
 * one at its expiry; otherwise in_progress. Counts are exact at any instant: written counters,
 * less the executions whose deadline has passed (TimedOutTally), plus arithmetic for the targets
 * never delivered (pending, or canceled by the job's end, or expired at the job's expiry).
 */
import { attemptOf } from '../commands/history.ts';
import { cancel, delivered, isTerminal, statusOf } from '../commands/lifecycle.ts';
import type { CommandRecord, CommandStatus } from '../commands/model.ts';
import type {
  AbortConfig,
  AbortFailureType,
  JobCancellation,
  JobCounts,
  JobEnd,
  JobPause,
  JobPauseChange,
  JobSnapshot,
  JobSpec,
  JobState,
  JobStatus,
  JobTally,
  RetryConfig,
  RolloutConfig,
  TimedOutTally,
} from './model.ts';
import { MAX_JOB_TARGETS, MAX_ROLLOUT_PER_MINUTE, ROLLOUT_WINDOW_MS } from './model.ts';

/** The reason an abort writes, on the job and on every execution it cancels. */
export const ABORT_REASON = 'job_aborted';
/** The reason an execution gets when its job is canceled and the operator gave none. */
export const JOB_CANCEL_REASON = 'job_canceled';
/** The reason of the history entry that starts an execution's next attempt, pending again (a retry). */
export const RETRY_REASON = 'retry';
/** The reason of what a schedule's end cancels: the undelivered targets (stop_rollout), or the job (cancel, force_cancel). */
export const SCHEDULE_END_REASON = 'schedule_ended';

/** The schedule's end has come at `now` with stop_rollout, before the job's expiry: nothing new is delivered, the undelivered are canceled. */
export function rolloutStopped(spec: JobSpec, now: number): boolean {
  const endAt = spec.schedule?.endAt;
  return spec.schedule?.endBehavior === 'stop_rollout' && endAt !== undefined && now >= endAt && endAt < spec.expiresAt;
}

/**
 * Jobs one page of the job list (GET /api/jobs) examines at most, whatever its filter matches
 * (lifecycle.budgetedPage; gone ones have lifecycle.PAGE_BUDGET of their own): smaller than
 * PAGE_BUDGET, since each job is met (abortAt) and its status read from several keys, some 20 to
 * 30 µs of Redis time a job.
 */
export const JOB_PAGE_BUDGET = 100;

/** What a create does with the targets it counted before writing anything (targetsOutcome). */
export type TargetsOutcome = 'create' | 'too_many_targets' | 'no_targets';

/**
 * May a job with `counted` targets be created? `counted` is the sizes of its groups added up plus
 * its named agents, each known in O(1) before anything is written: an agent in two of the groups
 * is counted twice, so it bounds the targets from above and is 0 exactly when they resolve to no
 * agent. Over `max` (MAX_JOB_TARGETS): refused; none: refused unless the job is continuous (its
 * groups may gain members later).
 */
export function targetsOutcome(counted: number, continuous: boolean, max: number = MAX_JOB_TARGETS): TargetsOutcome {
  if (counted > max) return 'too_many_targets';
  if (counted === 0 && !continuous) return 'no_targets';
  return 'create';
}

/**
 * How many minutes a rollout of `targets` first deliveries takes at least: ceil(targets / max per
 * minute); undefined without a rollout (no brake: as fast as the agents poll). It reads the
 * rollout's max_per_minute alone, so it is a lower bound of any rollout that starts slower.
 */
export function estimatedRolloutMinutes(targets: number, maxPerMinute: number | undefined): number | undefined {
  return maxPerMinute === undefined ? undefined : Math.ceil(targets / maxPerMinute);
}

/** The characters (Unicode code points) of a result an executions listing shows (resultExcerpt). */
export const RESULT_EXCERPT_CHARS = 256;
/** What a store reads of a result for its excerpt: RESULT_EXCERPT_CHARS code points take at most 4 UTF-8 bytes each. */
export const RESULT_EXCERPT_BYTES = 4 * RESULT_EXCERPT_CHARS;
/** The statuses whose listing item shows the start of the result: those that say something went wrong. */
export const EXCERPTED_STATUSES: ReadonlySet<CommandStatus> = new Set<CommandStatus>(['failed', 'rejected', 'timed_out']);

/** The first RESULT_EXCERPT_CHARS code points of a result's JSON text, never half of one. */
export function resultExcerpt(json: string): string {
  let out = '';
  let taken = 0;
  for (const char of json) {
    if (taken === RESULT_EXCERPT_CHARS) break;
    out += char;
    taken += 1;
  }
  return out;
}

/**
 * An execution as a listing carries it at `status`: its record without the result, and, when it
 * failed, was rejected or timed out with one, the result's excerpt.
 */
export function listedExecution(record: CommandRecord, status: CommandStatus): { record: CommandRecord; resultExcerpt?: string } {
  const { resultJson, ...rest } = record;
  return {
    record: rest,
    ...(resultJson !== undefined && EXCERPTED_STATUSES.has(status) ? { resultExcerpt: resultExcerpt(resultJson) } : {}),
  };
}

/** A new job's state: its targets counted, nothing delivered. */
export function createdJob(spec: JobSpec, seq: number, targets: number): JobState {
  const tally: JobTally = {
    targets,
    materialized: 0,
    delivered: 0,
    inProgress: 0,
    completed: 0,
    failed: 0,
    rejected: 0,
    canceled: 0,
    retrying: 0,
    updatedAt: spec.createdAt,
  };
  return { spec, seq, tally };
}

/** When the job and everything kept for it are gone: its expiry plus the result retention (Redis: PEXPIREAT). */
export function jobGoneAt(spec: JobSpec, retentionMs: number): number {
  return spec.expiresAt + retentionMs;
}

/** A continuous job gains a target (an agent joined one of its groups while it is in progress): one more pending. */
export function targetAdded(state: JobState): JobState {
  return { ...state, tally: { ...state.tally, targets: state.tally.targets + 1 } };
}

/** Targets without an execution that the job's end did not cancel. */
function undeliveredLeft(state: JobState): number {
  return state.tally.targets - state.tally.materialized - (state.end?.undelivered ?? 0);
}

/** The counts at `now` (for a forced cancel, those frozen at its instant). */
export function countsAt(state: JobState, timedOut: TimedOutTally, now: number): JobCounts {
  if (state.end?.final !== undefined) return state.end.final;
  const { tally, spec } = state;
  let delivered = tally.delivered - timedOut.delivered;
  let inProgress = tally.inProgress - timedOut.inProgress;
  // Waiting for their next attempt (a failure or a timeout retried) count pending; those the
  // job's end caught are in its `undelivered`, and nothing is retried after it (retryCutoff).
  let pending = undeliveredLeft(state) + tally.retrying + (timedOut.retried ?? 0);
  // A schedule's stop_rollout end cancels every target not delivered then (none is delivered after it).
  const stopped = rolloutStopped(spec, now) ? pending : 0;
  pending -= stopped;
  let expired = 0;
  if (now >= spec.expiresAt) {
    expired = delivered + inProgress + pending;
    delivered = 0;
    inProgress = 0;
    pending = 0;
  }
  return {
    pending,
    delivered,
    in_progress: inProgress,
    completed: tally.completed,
    failed: tally.failed,
    rejected: tally.rejected,
    timed_out: timedOut.delivered + timedOut.inProgress - (timedOut.retried ?? 0),
    canceled: tally.canceled + (state.end?.undelivered ?? 0) + stopped,
    expired,
  };
}

/** Executions in a terminal state. */
export function terminalCount(counts: JobCounts): number {
  return counts.completed + counts.failed + counts.rejected + counts.timed_out + counts.canceled + counts.expired;
}

/** Executions that count against the abort threshold. */
export function failureCount(counts: JobCounts): number {
  return counts.failed + counts.rejected + counts.timed_out;
}

/**
 * The executions an abort is judged over: the terminal ones less the expired. Every execution
 * of a job expires at the job's one expiry, so before it `expired` is 0, and after it the share
 * stays what it was just before: the expiry alone neither aborts a job nor keeps a threshold
 * reached by timeouts from aborting it.
 */
export function judgedCount(counts: JobCounts): number {
  return terminalCount(counts) - counts.expired;
}

/** The executions of one abort failure type: failed, rejected or timed_out alone, or the three (`all`, failureCount). */
export function failuresOf(failureType: AbortFailureType, counts: JobCounts): number {
  return failureType === 'all' ? failureCount(counts) : counts[failureType];
}

/**
 * An abort threshold is reached: for any criterion, at least its minExecuted judged
 * (judgedCount), and its failure type at least its threshold % of them.
 */
export function shouldAbort(abort: AbortConfig | undefined, counts: JobCounts): boolean {
  if (abort === undefined) return false;
  const judged = judgedCount(counts);
  if (judged === 0) return false;
  return abort.criteria.some(
    (criterion) =>
      judged >= criterion.minExecuted && 100 * failuresOf(criterion.failureType, counts) >= criterion.thresholdPercent * judged,
  );
}

/** Executions that may still change: pending, delivered, in progress. */
function liveCount(counts: JobCounts): number {
  return counts.pending + counts.delivered + counts.in_progress;
}

/**
 * The status at `now` from the state and the counts at `now`: a written end, then the abort
 * threshold, then completed (a continuous job at its expiry or, its rollout stopped by its
 * schedule, once nothing can change; any other once nothing can change), then paused, then
 * scheduled (before its schedule's start), else in progress.
 */
export function jobStatusAt(state: JobState, counts: JobCounts, now: number): JobStatus {
  const { spec } = state;
  if (state.end !== undefined) return state.end.status;
  if (shouldAbort(spec.abort, counts)) return 'aborted';
  const settled = liveCount(counts) === 0;
  const completed = spec.continuous ? now >= spec.expiresAt || (rolloutStopped(spec, now) && settled) : settled;
  if (completed) return 'completed';
  if (state.pause?.paused === true) return 'paused';
  return spec.schedule !== undefined && now < spec.schedule.startAt ? 'scheduled' : 'in_progress';
}

/** A status that never changes again: completed, canceled, aborted. */
export function isJobEnded(status: JobStatus): status is 'completed' | 'canceled' | 'aborted' {
  return status === 'completed' || status === 'canceled' || status === 'aborted';
}

/**
 * An operator's pause or resume, made at endInstant(state, change.at) (the store reads `counts`
 * at that instant, after abortAt): refused once the job has ended; unchanged when it is so
 * already (nothing written); otherwise the pause written, the change stamped. While paused no
 * first delivery is made (mayDeliver); delivered executions go on, and time still ends them.
 */
export function pauseJob(
  state: JobState,
  counts: JobCounts,
  change: JobPauseChange,
): { outcome: 'accepted' | 'unchanged' | 'refused'; state: JobState } {
  const at = endInstant(state, change.at);
  const status = jobStatusAt(state, counts, at);
  if (isJobEnded(status)) return { outcome: 'refused', state };
  if ((status === 'paused') === change.paused) return { outcome: 'unchanged', state };
  const pause: JobPause = { paused: change.paused, at, ...(change.reason === undefined ? {} : { reason: change.reason }) };
  return { outcome: 'accepted', state: { ...state, pause, tally: { ...state.tally, updatedAt: Math.max(state.tally.updatedAt, at) } } };
}

/**
 * The instant a job's end is stamped at when a store meets the job at `now`: never before the
 * job's last change. Times are each caller's clock while Redis decides the order, so a delivery
 * or report stamped by a fast clock can come before a cancel stamped by a slow one; every such
 * change raised the tally's updatedAt (retally), so an end at the later of the two is at or after
 * every execution's stamps (its delivered_at, started_at, completed_at), and an execution its
 * forced cancel settles is canceled at that end. The raise never crosses the job's expiry: every
 * change before an end was made while the job was live (a delivery before the expiry, a report on
 * an execution not yet expired), so `pending` and `expired` read the same at either instant.
 */
export function endInstant(state: JobState, now: number): number {
  return Math.max(now, state.tally.updatedAt);
}

/**
 * What a store writes when it meets the job at `now` (counts read at `now`): the abort, the
 * first time the threshold is seen reached, at endInstant (every undelivered target canceled at
 * that instant); undefined: nothing to write. Every store step that could deliver, report or read
 * an execution of the job calls it first, so nothing is delivered once the threshold is reached,
 * even at that very instant.
 */
export function abortAt(state: JobState, counts: JobCounts, now: number): JobEnd | undefined {
  if (state.end !== undefined || !shouldAbort(state.spec.abort, counts)) return undefined;
  return { status: 'aborted', at: endInstant(state, now), reason: ABORT_REASON, force: false, undelivered: counts.pending };
}

/**
 * Is the schedule's cancel or force_cancel end due at `now` and not yet written? Then the store
 * reads the counts at the schedule's endAt (its timed-out tally then) and calls scheduledEnd.
 */
export function scheduledEndDue(state: JobState, now: number): boolean {
  const schedule = state.spec.schedule;
  return state.end === undefined && schedule?.endAt !== undefined && schedule.endBehavior !== 'stop_rollout' && now >= schedule.endAt;
}

/**
 * The end a schedule's cancel or force_cancel writes when a store first meets the job at or
 * after its endAt (`counts` read at endAt): the job's cancel at endAt (cancelJob, reason
 * schedule_ended, with force for force_cancel), as if an operator had canceled it at that very
 * instant. undefined: nothing to write (not due, or the job had ended or reached its abort
 * threshold by then).
 */
export function scheduledEnd(state: JobState, counts: JobCounts, now: number): JobEnd | undefined {
  const schedule = state.spec.schedule;
  if (!scheduledEndDue(state, now) || schedule?.endAt === undefined || shouldAbort(state.spec.abort, counts)) return undefined;
  const force = schedule.endBehavior === 'force_cancel';
  const decided = cancelJob(state, counts, { reason: SCHEDULE_END_REASON, force, at: schedule.endAt });
  return decided.outcome === 'accepted' ? decided.state.end : undefined;
}

/** The state with its end written (abortAt or cancelJob), the change stamped. */
export function ended(state: JobState, end: JobEnd): JobState {
  return { ...state, end, tally: { ...state.tally, updatedAt: Math.max(state.tally.updatedAt, end.at) } };
}

/**
 * An operator's cancel, made at endInstant(state, cancellation.at) (never before the job's last
 * change; the store meets the job and reads `counts` at that instant, after abortAt): refused
 * once the job has ended (completed, canceled, aborted; a paused job may be canceled); otherwise every undelivered target is
 * canceled, and with force every delivered and in-progress execution too (counts frozen from
 * then on).
 */
export function cancelJob(
  state: JobState,
  counts: JobCounts,
  cancellation: JobCancellation,
): { outcome: 'accepted' | 'refused'; state: JobState } {
  const { force, reason } = cancellation;
  const at = endInstant(state, cancellation.at);
  if (isJobEnded(jobStatusAt(state, counts, at))) return { outcome: 'refused', state };
  const final: JobCounts | undefined = force
    ? {
        ...counts,
        pending: 0,
        delivered: 0,
        in_progress: 0,
        canceled: counts.canceled + counts.pending + counts.delivered + counts.in_progress,
      }
    : undefined;
  const end: JobEnd = {
    status: 'canceled',
    at,
    ...(reason === undefined ? {} : { reason }),
    force,
    undelivered: counts.pending,
    ...(final === undefined ? {} : { final }),
  };
  return { outcome: 'accepted', state: ended(state, end) };
}

/** When the job ended at `now`, if it has: its written end, else the last execution's end. */
export function jobCompletedAt(state: JobState, counts: JobCounts, timedOut: TimedOutTally, now: number): number | undefined {
  if (state.end !== undefined) return state.end.at;
  if (jobStatusAt(state, counts, now) !== 'completed') return undefined;
  if (counts.expired > 0 || (state.spec.continuous && now >= state.spec.expiresAt)) return state.spec.expiresAt;
  return Math.max(state.spec.createdAt, state.tally.lastEndAt ?? 0, timedOut.lastAt ?? 0, stoppedAt(state, timedOut, now) ?? 0);
}

/** When the schedule's stop_rollout canceled undelivered targets, if it did by `now`: its endAt. */
function stoppedAt(state: JobState, timedOut: TimedOutTally, now: number): number | undefined {
  // What waited then: targets never delivered, and executions waiting for their retry.
  const waiting = undeliveredLeft(state) + state.tally.retrying + (timedOut.retried ?? 0);
  return rolloutStopped(state.spec, now) && waiting > 0 ? state.spec.schedule?.endAt : undefined;
}

/**
 * The job as read at `now` (the store has written abortAt first). Its last change is the latest
 * of its writes, its completion, and the instants time alone changed its counts (a timeout, the
 * expiry), as a command's updatedAtOf; a forced cancel's counts no longer change by time.
 */
export function jobSnapshot(state: JobState, timedOut: TimedOutTally, now: number): JobSnapshot {
  const counts = countsAt(state, timedOut, now);
  const status = jobStatusAt(state, counts, now);
  const completedAt = jobCompletedAt(state, counts, timedOut, now);
  const byTime =
    state.end?.final !== undefined
      ? 0
      : Math.max(timedOut.lastAt ?? 0, counts.expired > 0 ? state.spec.expiresAt : 0, stoppedAt(state, timedOut, now) ?? 0);
  return {
    spec: state.spec,
    status,
    counts,
    updatedAt: Math.max(state.tally.updatedAt, completedAt ?? 0, byTime),
    completedAt,
    end: state.end,
    pause: state.pause,
    perMinute: rolloutRate(state.spec.rollout, state.tally),
  };
}

/** The job as it was made (what a replayed create answers, byte for byte): `targets` counted then, nothing delivered. */
export function createdSnapshot(spec: JobSpec, seq: number, targets: number): JobSnapshot {
  return jobSnapshot(createdJob(spec, seq, targets), { delivered: 0, inProgress: 0 }, spec.createdAt);
}

/** Rollout: another first delivery is allowed when fewer than the rate (rolloutRate) were made after `now - 60 s`. */
export function rolloutAllows(maxPerMinute: number | undefined, deliveredSinceWindowStart: number): boolean {
  return maxPerMinute === undefined || deliveredSinceWindowStart < maxPerMinute;
}

/**
 * The rollout's rate (first deliveries in any sliding minute) for the tally: max_per_minute; or,
 * exponential, basePerMinute multiplied by the factor (floor) once for each `count` executions
 * delivered (tally.materialized) or completed (tally.completed), never above max_per_minute (or
 * MAX_ROLLOUT_PER_MINUTE without one). So the rate moves at the very change that crosses each
 * step. A factor that no longer raises the floored rate ends the climb; otherwise it grows by at
 * least one a step, geometrically past ten: some 100 steps at most to the cap. undefined: no rollout.
 */
export function rolloutRate(rollout: RolloutConfig | undefined, tally: JobTally): number | undefined {
  if (rollout === undefined) return undefined;
  const { maxPerMinute, exponential } = rollout;
  if (exponential === undefined) return maxPerMinute;
  const cap = maxPerMinute ?? MAX_ROLLOUT_PER_MINUTE;
  const done = exponential.increaseAfter.kind === 'notified' ? tally.materialized : tally.completed;
  const steps = Math.floor(done / exponential.increaseAfter.count);
  let rate = exponential.basePerMinute;
  for (let step = 0; step < steps && rate < cap; step += 1) {
    const next = Math.floor((rate * exponential.incrementFactorTenths) / 10);
    if (next <= rate) break;
    rate = next;
  }
  return Math.min(rate, cap);
}

/** First deliveries made after this instant count against the rollout at `now`. */
export function rolloutWindowStart(now: number): number {
  return now - ROLLOUT_WINDOW_MS;
}

/**
 * May the poll at `now` make this agent's execution? The job is in progress (after abortAt;
 * not scheduled, not paused), not expired, not past its schedule's end, the agent is a target without one, and the rollout allows another at its rate
 * now (`perMinute`, rolloutRate).
 */
export function mayDeliver(
  status: JobStatus,
  spec: JobSpec,
  now: number,
  target: { readonly isTarget: boolean; readonly hasExecution: boolean },
  deliveredSinceWindowStart: number,
  perMinute: number | undefined,
): boolean {
  return (
    status === 'in_progress' &&
    now < spec.expiresAt &&
    (spec.schedule?.endAt === undefined || now < spec.schedule.endAt) &&
    target.isTarget &&
    !target.hasExecution &&
    rolloutAllows(perMinute, deliveredSinceWindowStart)
  );
}

/** Does a continuous job take an agent that joins one of its groups at `now` as a target? Not once it has ended, nor past its schedule's end. */
export function takesJoiner(status: JobStatus, spec: JobSpec, now: number): boolean {
  return spec.continuous && !isJobEnded(status) && (spec.schedule?.endAt === undefined || now < spec.schedule.endAt);
}

/** The execution as made at `now`: the job's command for the agent, delivered at once. */
export function executionRecord(spec: JobSpec, agentId: string, now: number): CommandRecord {
  const made: CommandRecord = {
    commandId: spec.jobId,
    agentId,
    command: spec.command,
    args: spec.args,
    createdAt: spec.createdAt,
    expiresAt: spec.expiresAt,
    ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
    jobId: spec.jobId,
  };
  return delivered(made, now);
}

/**
 * The phase a written execution is counted in: retrying (its next attempt made, not yet
 * delivered: every execution is born delivered, so only a retry lacks deliveredAt), delivered,
 * in_progress, or its written end.
 */
export type ExecutionPhase = 'retrying' | 'delivered' | 'in_progress' | 'ended';

export function phaseOf(record: CommandRecord): ExecutionPhase {
  if (record.resultStatus !== undefined) return 'ended';
  if (record.deliveredAt === undefined) return 'retrying';
  return record.startedAt === undefined ? 'delivered' : 'in_progress';
}

/** The deadline a record is kept under in its phase's sorted set: only one that comes before the job's expiry (a tie is expired). */
export function deadlineEntry(record: CommandRecord): number | undefined {
  if (record.resultStatus !== undefined || record.deadlineAt === undefined) return undefined;
  return record.deadlineAt < record.expiresAt ? record.deadlineAt : undefined;
}

/**
 * The counters after one written change of an execution at `at`: `before` undefined for the
 * one that made it. The caller moves its deadline entry (deadlineEntry) between the phase sets.
 */
export function retally(tally: JobTally, before: CommandRecord | undefined, after: CommandRecord, at: number): JobTally {
  const counters: Record<'retrying' | 'delivered' | 'inProgress' | 'completed' | 'failed' | 'rejected' | 'canceled', number> = {
    retrying: tally.retrying,
    delivered: tally.delivered,
    inProgress: tally.inProgress,
    completed: tally.completed,
    failed: tally.failed,
    rejected: tally.rejected,
    canceled: tally.canceled,
  };
  const from = before === undefined ? undefined : phaseOf(before);
  const to = phaseOf(after);
  if (from === 'retrying') counters.retrying -= 1;
  if (to === 'retrying') counters.retrying += 1;
  if (from === 'delivered') counters.delivered -= 1;
  if (from === 'in_progress') counters.inProgress -= 1;
  if (to === 'delivered') counters.delivered += 1;
  if (to === 'in_progress') counters.inProgress += 1;
  const endsNow = to === 'ended' && from !== 'ended' && after.resultStatus !== undefined;
  if (endsNow) counters[after.resultStatus as 'completed' | 'failed' | 'rejected' | 'canceled'] += 1;
  return {
    ...tally,
    ...counters,
    materialized: tally.materialized + (before === undefined ? 1 : 0),
    ...(endsNow ? { lastEndAt: Math.max(tally.lastEndAt ?? 0, at) } : {}),
    updatedAt: Math.max(tally.updatedAt, at),
  };
}

/**
 * An execution as its job's end leaves it: after a forced cancel, one not terminal at the
 * cancel's instant is canceled then (with the job's reason). Stores apply it whenever they
 * meet an execution (fetch, report, cancel, get, list), so no write over every execution is
 * needed at the cancel itself.
 */
export function settledExecution(record: CommandRecord, end: JobEnd | undefined, retentionMs: number): CommandRecord {
  if (end === undefined || !end.force || isTerminal(statusOf(record, end.at))) return record;
  const made = cancel(record, { reason: end.reason ?? JOB_CANCEL_REASON, at: end.at }, retentionMs).record;
  return made ?? record;
}

/** Does the record need settledExecution's write? */
export function needsSettling(record: CommandRecord, end: JobEnd | undefined): boolean {
  return end?.force === true && !isTerminal(statusOf(record, end.at));
}

/**
 * A target with no execution, at `now`: pending; canceled by its schedule's stop_rollout end
 * (schedule_ended), or by the job's end, before its expiry; else expired. `endedAt`: when it became terminal (the job's end, or its expiry).
 */
export function undeliveredStatus(
  state: JobState,
  now: number,
): { status: CommandStatus; reason: string | undefined; endedAt: number | undefined } {
  const { end, spec } = state;
  const endAt = spec.schedule?.endAt;
  if (rolloutStopped(spec, now) && endAt !== undefined && (end === undefined || endAt <= end.at)) {
    return { status: 'canceled', reason: SCHEDULE_END_REASON, endedAt: endAt };
  }
  if (end !== undefined && end.at < spec.expiresAt) {
    return { status: 'canceled', reason: end.status === 'aborted' ? ABORT_REASON : (end.reason ?? JOB_CANCEL_REASON), endedAt: end.at };
  }
  if (now >= spec.expiresAt) return { status: 'expired', reason: undefined, endedAt: spec.expiresAt };
  return { status: 'pending', reason: undefined, endedAt: undefined };
}

/**
 * The most attempts in all an execution whose attempt ended `how` may have: the retry criterion
 * of that failure type, else the one of type `all`, else 1 (no retry).
 */
export function maxAttempts(retry: RetryConfig | undefined, how: 'failed' | 'timed_out'): number {
  const own = retry?.criteria.find((criterion) => criterion.failureType === how);
  const all = retry?.criteria.find((criterion) => criterion.failureType === 'all');
  return (own ?? all)?.maxAttempts ?? 1;
}

/**
 * The instant from which nothing is retried: the job's written end, its schedule's stop_rollout
 * end, its expiry, whichever comes first. An attempt that fails at or after it, or times out
 * after it, ends as it did; one waiting for its retry then (a timeout at that very instant
 * included) is canceled by that end (counted in its `undelivered`, or canceled with
 * schedule_ended), or expired.
 */
export function retryCutoff(state: JobState): number {
  const { spec } = state;
  let cutoff = spec.expiresAt;
  if (state.end !== undefined) cutoff = Math.min(cutoff, state.end.at);
  if (spec.schedule?.endAt !== undefined && spec.schedule.endBehavior === 'stop_rollout') cutoff = Math.min(cutoff, spec.schedule.endAt);
  return cutoff;
}

/** Is the timeout of this delivered attempt retried? Its deadline is then also kept in the job's retry set. */
export function retriesTimeout(spec: JobSpec, record: CommandRecord): boolean {
  return record.jobId !== undefined && attemptOf(record) < maxAttempts(spec.retry, 'timed_out');
}

/**
 * The execution's next attempt, made at `at`: pending again for the same agent (its command, args,
 * expiry and timeout; its deliveries counted on), nothing of the attempt before kept.
 */
export function nextAttempt(record: CommandRecord, at: number): CommandRecord {
  const { commandId, agentId, command, args, createdAt, expiresAt, timeoutMs, jobId, deliveryCount } = record;
  return {
    commandId,
    agentId,
    command,
    args,
    createdAt,
    expiresAt,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(jobId === undefined ? {} : { jobId }),
    ...(deliveryCount === undefined ? {} : { deliveryCount }),
    attempt: attemptOf(record) + 1,
    updatedAt: at,
  };
}

/**
 * A job's execution met at `now`: when its attempt timed out at or before the retry cutoff and has
 * a retry left (a timeout at the very instant of the job's end is retried, and that end cancels
 * the retry with the rest of what it caught waiting; a failure reported then is not: failureRetried), its next attempt, pending from the deadline on (nextAttempt at the deadline); else
 * undefined. The counts had it pending from that instant (TimedOutTally.retried); the store that
 * meets it writes it (the tally moved, retally; its deadline entries dropped), a read shows it so.
 */
export function timeoutRetried(record: CommandRecord, state: JobState, now: number): CommandRecord | undefined {
  const deadline = deadlineEntry(record);
  if (deadline === undefined || deadline > now || deadline > retryCutoff(state) || !retriesTimeout(state.spec, record)) return undefined;
  return nextAttempt(record, deadline);
}

/**
 * A result accepted at `at` (the record after it, `state` the job met then): a failure before the
 * retry cutoff with a retry left is not the execution's end but its next attempt, pending from
 * `at` (nextAttempt); undefined: the result stands.
 */
export function failureRetried(after: CommandRecord, state: JobState, at: number): CommandRecord | undefined {
  if (after.resultStatus !== 'failed' || at >= retryCutoff(state) || attemptOf(after) >= maxAttempts(state.spec.retry, 'failed')) {
    return undefined;
  }
  return nextAttempt(after, at);
}

/**
 * An execution waiting for its retry (phase retrying) when its job's end or its schedule's
 * stop_rollout end comes, at `now`: canceled at that instant with that end's reason, as the
 * undelivered targets are (the counts had it so from then: not retallied). undefined: it is not
 * waiting, or nothing has ended it.
 */
export function retryCanceled(record: CommandRecord, state: JobState, now: number): CommandRecord | undefined {
  if (phaseOf(record) !== 'retrying') return undefined;
  // Waiting, it is where a target never delivered is: what ends those ends it (undeliveredStatus).
  const { status, reason, endedAt } = undeliveredStatus(state, now);
  if (status !== 'canceled' || endedAt === undefined) return undefined;
  // Stamped as a cancel is (lifecycle changeAt): never before the record's last change.
  const stamped = Math.max(endedAt, record.updatedAt ?? endedAt);
  return { ...record, resultStatus: 'canceled', completedAt: stamped, updatedAt: stamped, cancelReason: reason ?? JOB_CANCEL_REASON };
}
