/**
 * How jobs are shown to operators: a job as read at an instant (its counts exact then), and one
 * target's execution. Times are ISO 8601 UTC, as in the command views; absent values are null.
 */
import type { HistoryEntry } from '../commands/history.ts';
import { shownHistory } from '../commands/history.ts';
import { endedAt, updatedAtOf } from '../commands/lifecycle.ts';
import { commandHistoryAt, historyView, iso } from '../commands/views.ts';
import { RawJson } from '../json-text.ts';
import { attemptOf } from '../commands/history.ts';
import type { AbortConfig, DryRunOutcome, ExecutionEntry, JobSnapshot, JobTargets } from './model.ts';
import { ABORT_REASON, EXCERPTED_STATUSES, estimatedRolloutMinutes } from './rules.ts';

/** A job's rollout as asked for; an exponential one with its rate at the read (`current_per_minute`). */
function rolloutView(job: JobSnapshot) {
  const { rollout } = job.spec;
  if (rollout === undefined) return null;
  const { maxPerMinute, exponential } = rollout;
  return {
    ...(maxPerMinute === undefined ? {} : { max_per_minute: maxPerMinute }),
    ...(exponential === undefined
      ? {}
      : {
          exponential: {
            base_per_minute: exponential.basePerMinute,
            increment_factor: exponential.incrementFactorTenths / 10,
            increase_after: { [exponential.increaseAfter.kind]: exponential.increaseAfter.count },
          },
          current_per_minute: job.perMinute ?? null,
        }),
  };
}

/**
 * A job's abort criteria; one criterion of type `all` (what the older form makes) also as that
 * form's `failure_threshold_percent` and `min_executed`.
 */
function abortView(abort: AbortConfig) {
  const [first] = abort.criteria;
  const legacy =
    abort.criteria.length === 1 && first !== undefined && first.failureType === 'all'
      ? { failure_threshold_percent: first.thresholdPercent, min_executed: first.minExecuted }
      : {};
  return {
    criteria: abort.criteria.map((criterion) => ({
      failure_type: criterion.failureType,
      threshold_percent: criterion.thresholdPercent,
      min_executed: criterion.minExecuted,
    })),
    ...legacy,
  };
}

/** The job at the instant its snapshot was read. */
export function jobView(job: JobSnapshot) {
  const { spec, status, counts, end } = job;
  return {
    job_id: spec.jobId,
    command: spec.command,
    args: spec.args,
    targets: { agents: spec.targets.agents, groups: spec.targets.groups },
    continuous: spec.continuous,
    rollout: rolloutView(job),
    abort: spec.abort === undefined ? null : abortView(spec.abort),
    schedule:
      spec.schedule === undefined
        ? null
        : { start_at: iso(spec.schedule.startAt), end_at: iso(spec.schedule.endAt), end_behavior: spec.schedule.endBehavior },
    retry:
      spec.retry === undefined
        ? null
        : {
            criteria: spec.retry.criteria.map((criterion) => ({
              failure_type: criterion.failureType,
              max_attempts: criterion.maxAttempts,
            })),
          },
    status,
    counts: {
      pending: counts.pending,
      delivered: counts.delivered,
      in_progress: counts.in_progress,
      completed: counts.completed,
      failed: counts.failed,
      rejected: counts.rejected,
      timed_out: counts.timed_out,
      canceled: counts.canceled,
      expired: counts.expired,
    },
    created_at: iso(spec.createdAt),
    created_by: spec.createdBy ?? null,
    updated_at: iso(job.updatedAt),
    completed_at: iso(job.completedAt),
    expires_at: iso(spec.expiresAt),
    timeout_seconds: spec.timeoutMs === undefined ? null : spec.timeoutMs / 1000,
    description: spec.description ?? null,
    // The last pause or resume's reason, once the job has been paused; when it was paused, while it is.
    ...(job.pause === undefined ? {} : { pause_reason: job.pause.reason ?? null }),
    ...(status === 'paused' ? { paused_at: iso(job.pause?.at) } : {}),
    ...(status === 'aborted' ? { cancel_reason: ABORT_REASON } : {}),
    ...(status === 'canceled' ? { cancel_reason: end?.reason ?? null, force: end?.force ?? false } : {}),
  };
}

/**
 * One target of a job at `now`: its execution once made (command_id = the job id), else what
 * arithmetic says of it; with the execution's latest status_details and, when it failed, was
 * rejected or timed out, the start of its result (result_excerpt, null without one).
 */
export function executionView(entry: ExecutionEntry, now: number) {
  const { record } = entry;
  return {
    agent_id: entry.agentId,
    command_id: record === undefined ? null : record.commandId,
    status: entry.status,
    // Attempts count from 1: a target not yet delivered is at its first.
    attempt: record === undefined ? 1 : attemptOf(record),
    delivered_at: iso(record?.deliveredAt),
    // A target never delivered has no record: its end is the job's cancel or abort, or its expiry.
    updated_at: iso(record === undefined ? entry.endedAt : updatedAtOf(record, now)),
    completed_at: iso(record === undefined ? entry.endedAt : endedAt(record, now)),
    delivery_count: record?.deliveryCount ?? 0,
    // Why it failed, without opening it: the latest status_details, and the result's first characters.
    status_details: record?.statusDetailsJson === undefined ? null : new RawJson(record.statusDetailsJson),
    ...(EXCERPTED_STATUSES.has(entry.status) ? { result_excerpt: entry.resultExcerpt ?? null } : {}),
    ...(entry.status === 'canceled' ? { cancel_reason: entry.cancelReason ?? null } : {}),
  };
}

/**
 * One target read alone (GET /api/jobs/{jobId}/executions/{agentId}): the listing's view, and the
 * history of its execution; a target never delivered has none, or, once its job's cancel, abort
 * or expiry ended it, that end alone.
 */
export function executionDetailView(entry: ExecutionEntry, kept: readonly HistoryEntry[], now: number) {
  const { record } = entry;
  const history =
    record === undefined
      ? shownHistory([], { status: entry.status, at: entry.endedAt, attempt: 1, reason: entry.cancelReason })
      : commandHistoryAt(record, kept, now);
  return { ...executionView(entry, now), ...historyView(history) };
}

/**
 * A dry run's answer (POST /api/jobs?dry_run=true): the targets a create would have now (told
 * apart up to DRY_RUN_EXACT_TARGETS, `targets_exact`; above, the create's count, an upper bound),
 * each group's members, the agents named, and the rollout's shortest length in minutes.
 */
export function dryRunView(run: Extract<DryRunOutcome, { outcome: 'ok' }>, targets: JobTargets, maxPerMinute: number | undefined) {
  const count = run.distinct ?? run.counted;
  return {
    dry_run: true,
    targets: count,
    targets_exact: run.distinct !== undefined,
    by_group: Object.fromEntries(targets.groups.map((group, i) => [group, run.members[i] ?? 0])),
    agents_listed: targets.agents.length,
    estimated_rollout_minutes: estimatedRolloutMinutes(count, maxPerMinute) ?? null,
  };
}
