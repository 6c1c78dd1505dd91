/**
 * The job model: one command for many agents. Plain data, no storage and no HTTP; the rules over
 * it live in rules.ts. A job's execution on one agent is a command in that agent's queue (its
 * command id is the job id, its record carries `jobId`), with every state and rule of
 * lib/commands/lifecycle.ts.
 *
 * Executions are made lazily: an execution becomes a record the moment it is first delivered,
 * inside the agent's own poll, when the job's brakes (status, rollout, abort) allow it. Before
 * that a target is counted `pending` by arithmetic (targets - materialized), so creating a job
 * over 100,000 agents writes no execution at all, and a cancel or an abort turns every
 * undelivered one `canceled` in one write.
 */
import type { HistoryEntry } from '../commands/history.ts';
import type { CommandRecord, CommandStatus } from '../commands/model.ts';

export const JOB_STATUSES = ['scheduled', 'in_progress', 'paused', 'completed', 'canceled', 'aborted'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The most agents and groups one job may name. */
export const MAX_JOB_AGENTS = 1000;
export const MAX_JOB_GROUPS = 10;
/**
 * The most targets one job may have when it is created, as counted before anything is written:
 * the sizes of its groups added up, plus its named agents (rules targetsOutcome). An agent in two
 * of the groups, or named and in a group, is counted once per place: the count is an upper bound
 * of the job's targets, known in O(1) per group. A continuous job may grow past it by later joins.
 */
export const MAX_JOB_TARGETS = 1_000_000;
/** Rollout: first deliveries counted over this sliding window. */
export const ROLLOUT_WINDOW_MS = 60_000;

export interface JobTargets {
  readonly agents: readonly string[];
  readonly groups: readonly string[];
}

/** The most first deliveries a minute any rollout allows: the top of max_per_minute, and of an exponential rate without one. */
export const MAX_ROLLOUT_PER_MINUTE = 100_000;

/**
 * An exponential rollout (AWS IoT Jobs' exponentialRate): the rate starts at basePerMinute and is
 * multiplied by the factor (floor) each time `count` more executions have been delivered
 * (`notified`) or completed (`succeeded`).
 */
export interface ExponentialRollout {
  /** 1..1000 first deliveries in any sliding minute, at the start. */
  readonly basePerMinute: number;
  /** The factor in tenths: 11..50 (1.1 to 5.0, one decimal place). */
  readonly incrementFactorTenths: number;
  readonly increaseAfter: { readonly kind: 'notified' | 'succeeded'; readonly count: number };
}

/** At least one of the two: a fixed rate, an exponential one, or an exponential one capped. */
export interface RolloutConfig {
  /** At most this many first deliveries in any sliding minute (1..100000); with exponential: its cap. */
  readonly maxPerMinute?: number;
  readonly exponential?: ExponentialRollout;
}

/** What an abort criterion counts as a failure: one terminal status, or all three (`all`). */
export const ABORT_FAILURE_TYPES = ['failed', 'rejected', 'timed_out', 'all'] as const;
export type AbortFailureType = (typeof ABORT_FAILURE_TYPES)[number];
/** The most criteria one abort may have. */
export const MAX_ABORT_CRITERIA = 4;

/** One way a job aborts: at least `minExecuted` judged, of which `failureType` is at least `thresholdPercent` %. */
export interface AbortCriterion {
  readonly failureType: AbortFailureType;
  /** 1..100: the share of that failure type among judged executions that aborts. */
  readonly thresholdPercent: number;
  /** 1..100000: no abort by this criterion before this many executions are judged. */
  readonly minExecuted: number;
}

/**
 * The job aborts when any criterion is met (1 to MAX_ABORT_CRITERIA of them). The older form
 * `{failure_threshold_percent, min_executed}` is one criterion of type `all`.
 */
export interface AbortConfig {
  readonly criteria: readonly AbortCriterion[];
}

/** What a retry criterion retries: an attempt that failed, one that timed out, or either (`all`). */
export const RETRY_FAILURE_TYPES = ['failed', 'timed_out', 'all'] as const;
export type RetryFailureType = (typeof RETRY_FAILURE_TYPES)[number];
/** The most criteria one retry may have, and the most attempts one execution may have in all. */
export const MAX_RETRY_CRITERIA = 2;
export const MAX_RETRY_ATTEMPTS = 10;

/** An execution that ends `failureType` is retried while it has had fewer than `maxAttempts` attempts. */
export interface RetryCriterion {
  readonly failureType: RetryFailureType;
  /** 1..10: the attempts in all, the first included (1: never retried). */
  readonly maxAttempts: number;
}

/** 1 or 2 criteria, of different failure types; one of type failed or timed_out wins over `all` for its type (rules maxAttempts). */
export interface RetryConfig {
  readonly criteria: readonly RetryCriterion[];
}

/** What a job does at its schedule's end: no new delivery (stop_rollout), or the job's cancel without or with force. */
export const SCHEDULE_END_BEHAVIORS = ['stop_rollout', 'cancel', 'force_cancel'] as const;
export type ScheduleEndBehavior = (typeof SCHEDULE_END_BEHAVIORS)[number];
/** How far ahead a schedule may start. */
export const MAX_SCHEDULE_AHEAD_MS = 365 * 24 * 3600 * 1000;

/**
 * A job's schedule: `scheduled` before startAt (nothing delivered), in progress from then; at
 * endAt (when given) its endBehavior, at that very instant, computed from time.
 */
export interface JobSchedule {
  readonly startAt: number;
  readonly endAt?: number;
  readonly endBehavior: ScheduleEndBehavior;
}

/** What a job is asked to do, as created. Times are epoch milliseconds. */
export interface JobSpec {
  readonly jobId: string;
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly targets: JobTargets;
  readonly createdAt: number;
  /** Every execution expires at this instant (createdAt + ttl); nothing of the job runs after it. */
  readonly expiresAt: number;
  /** Each execution's timeout from its first delivery; absent: none. */
  readonly timeoutMs?: number;
  readonly continuous: boolean;
  readonly rollout?: RolloutConfig;
  readonly abort?: AbortConfig;
  readonly schedule?: JobSchedule;
  readonly retry?: RetryConfig;
  readonly description?: string;
  /** The operator who created it (the token's `sub`). */
  readonly createdBy?: string;
}

/**
 * The job's written counters, changed in the same atomic step as the execution they count.
 * `delivered` and `inProgress` count executions in that phase by their writes alone: one whose
 * deadline has passed is still counted there and taken out at read time (TimedOutTally).
 */
export interface JobTally {
  /** Agents the job targets (explicit agents and group members, each once). */
  readonly targets: number;
  /** Executions made (each was delivered when made). */
  readonly materialized: number;
  readonly delivered: number;
  readonly inProgress: number;
  readonly completed: number;
  readonly failed: number;
  readonly rejected: number;
  /** Executions canceled one by one (an operator's cancel of that command). */
  readonly canceled: number;
  /**
   * Executions whose attempt failed with a retry left, waiting for their next attempt's delivery
   * (counted pending). One that timed out with a retry left is counted there by time
   * (TimedOutTally.retried) until a store meets it and writes its next attempt.
   */
  readonly retrying: number;
  /** The latest written end of an execution (result or cancel); absent: none yet. */
  readonly lastEndAt?: number;
  /** The last written change to the job or one of its executions. */
  readonly updatedAt: number;
}

/** How a job ended before its executions did: an operator's cancel or an abort. */
export interface JobEnd {
  readonly status: 'canceled' | 'aborted';
  readonly at: number;
  /** The cancel's reason; an abort's is 'job_aborted'. */
  readonly reason?: string;
  /** A cancel with force: executions delivered or in progress were canceled too, at `at`. */
  readonly force: boolean;
  /** Targets not yet delivered at `at`: all canceled then. */
  readonly undelivered: number;
  /** With force: the counts at `at`, which never change again. */
  readonly final?: JobCounts;
}

/**
 * The job's last pause or resume: paused (no first delivery and no retry delivered) or resumed,
 * since `at`, with the operator's reason.
 */
export interface JobPause {
  readonly paused: boolean;
  readonly at: number;
  readonly reason?: string;
}

/** The job as stored. `seq` orders jobs by creation (1, 2, 3, ...). */
export interface JobState {
  readonly spec: JobSpec;
  readonly seq: number;
  readonly tally: JobTally;
  readonly end?: JobEnd;
  readonly pause?: JobPause;
}

/**
 * What a store reads at `now` besides the state: how many executions, by the phase they were
 * last written in, have a deadline (before the job's expiry) at or before `now`, and the latest
 * such deadline. Redis: ZCOUNT and one ZREVRANGEBYSCORE over two sorted sets of deadlines.
 */
export interface TimedOutTally {
  readonly delivered: number;
  readonly inProgress: number;
  /**
   * Of those, the ones whose timeout is retried (their attempt has a retry left: the deadline is
   * also kept in the retry set) and came at or before the job's retry cutoff (rules retryCutoff): each
   * is counted pending, its next attempt, not timed_out. Absent: none.
   */
  readonly retried?: number;
  readonly lastAt?: number;
}

export type JobCounts = Readonly<Record<CommandStatus, number>>;

/** A job as read at an instant. */
export interface JobSnapshot {
  readonly spec: JobSpec;
  readonly status: JobStatus;
  readonly counts: JobCounts;
  readonly updatedAt: number;
  readonly completedAt: number | undefined;
  readonly end: JobEnd | undefined;
  readonly pause: JobPause | undefined;
  /** The rollout's rate at the read (rules rolloutRate); undefined: no rollout. */
  readonly perMinute: number | undefined;
}

/**
 * created: the job is new. replayed: the Idempotency-Key was seen with the same request; the job
 * it made, as it is now. mismatch: the key was seen with another request; nothing changed.
 * too_many_targets: the targets counted (`counted`, rules targetsOutcome) are over
 * MAX_JOB_TARGETS; no_targets: the targets resolve to no agent and the job is not continuous.
 * Neither writes anything, the Idempotency-Key included.
 */
export type CreateJobOutcome =
  | { readonly outcome: 'created' | 'replayed'; readonly job: JobSnapshot }
  | { readonly outcome: 'mismatch' }
  | { readonly outcome: 'no_targets' }
  | { readonly outcome: 'too_many_targets'; readonly counted: number };

/**
 * A dry run's count of a create's targets, written nowhere (JobStore.dryRun). Refused as the
 * create would be (no_targets, too_many_targets). ok: `counted` is what the create is judged on
 * (targetsOutcome: its groups' sizes and its named agents added up); `members` each group's size,
 * in the order the groups were named; `distinct` the agents the job would have, each once, when
 * `counted` is at most DRY_RUN_EXACT_TARGETS (undefined above: telling them apart would read every
 * member, unbounded work in one script).
 */
export type DryRunOutcome =
  | { readonly outcome: 'ok'; readonly counted: number; readonly members: readonly number[]; readonly distinct: number | undefined }
  | { readonly outcome: 'no_targets' }
  | { readonly outcome: 'too_many_targets'; readonly counted: number };

/**
 * The most targets a dry run tells apart (DryRunOutcome.distinct): reading this many members and
 * putting them in a Lua table costs well under a millisecond of Redis time.
 */
export const DRY_RUN_EXACT_TARGETS = 1000;

export interface JobCancellation {
  readonly reason: string | undefined;
  readonly force: boolean;
  readonly at: number;
}

/** An operator's pause (`paused` true) or resume (false) of a job at `at`. */
export interface JobPauseChange {
  readonly paused: boolean;
  readonly reason: string | undefined;
  readonly at: number;
}

/**
 * accepted: paused or resumed now. unchanged: it was so already (a pause of a paused job, a resume
 * of one not paused); nothing written. refused: the job had ended (`job` shows how).
 */
export type PauseJobOutcome =
  | { readonly outcome: 'accepted' | 'unchanged' | 'refused'; readonly job: JobSnapshot }
  | { readonly outcome: 'not_found' };

/** accepted: canceled now. refused: the job had ended already (`job` shows how). */
export type CancelJobOutcome = { readonly outcome: 'accepted' | 'refused'; readonly job: JobSnapshot } | { readonly outcome: 'not_found' };

export interface JobListQuery {
  readonly statuses: readonly JobStatus[] | undefined;
  readonly limit: number;
  /** Jobs created before this sequence (newest first); 0: from the newest. */
  readonly before: number;
  /** Entries the page examines at most (lifecycle.PAGE_BUDGET when not given; tests set fewer). */
  readonly budget?: number;
}

export interface JobListPage {
  readonly jobs: readonly JobSnapshot[];
  /** The sequence the next page starts before (it may hold fewer than `limit` jobs, even none); undefined when this page is the last. */
  readonly nextBefore: number | undefined;
}

export interface ExecutionQuery {
  readonly statuses: readonly CommandStatus[] | undefined;
  readonly limit: number;
  /** Start after this many targets (the job's target order: never reordered, only appended to). */
  readonly after: number;
  /** Entries the page examines at most (lifecycle.PAGE_BUDGET when not given; tests set fewer). */
  readonly budget?: number;
}

/** One target of a job at an instant: its execution's record once made. */
export interface ExecutionEntry {
  readonly agentId: string;
  readonly status: CommandStatus;
  /**
   * The execution's command without its result (a listing never carries results whole: see
   * resultExcerpt); undefined while pending, when canceled or expired undelivered, or past retention.
   */
  readonly record: CommandRecord | undefined;
  /**
   * For an execution that failed, was rejected or timed out with a result: its result's JSON text
   * cut to RESULT_EXCERPT_CHARS code points (rules.resultExcerpt); undefined otherwise.
   */
  readonly resultExcerpt?: string;
  /** For a canceled execution: the record's reason, or the job's ('job_aborted' for an abort). */
  readonly cancelReason: string | undefined;
  /** For a target without an execution that is terminal: when (the job's cancel or abort, or its expiry). */
  readonly endedAt: number | undefined;
}

/**
 * One target of a job read alone (JobStore.execution): its entry as the listing shows it and its
 * execution's kept history (lib/commands/history.ts; none before its first delivery). not_found:
 * no such job; no_target: the agent is not one of its targets (or its execution is past retention).
 */
export type ExecutionDetail =
  | { readonly outcome: 'ok'; readonly entry: ExecutionEntry; readonly history: readonly HistoryEntry[] }
  | { readonly outcome: 'not_found' | 'no_target' };

export interface ExecutionPage {
  readonly executions: readonly ExecutionEntry[];
  /** The target offset the next page starts at (it may hold fewer than `limit` entries, even none); undefined when this page is the last. */
  readonly nextAfter: number | undefined;
}
