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

export const JOB_STATUSES = ['in_progress', 'completed', 'canceled', 'aborted'] as const;
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

export interface RolloutConfig {
  /** At most this many first deliveries in any sliding minute (1..100000). */
  readonly maxPerMinute: number;
}

export interface AbortConfig {
  /** 1..100: the share of failed + rejected + timed_out among terminal executions that aborts. */
  readonly failureThresholdPercent: number;
  /** 1..100000: no abort before this many executions are terminal. */
  readonly minExecuted: number;
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
  readonly description?: string;
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

/** The job as stored. `seq` orders jobs by creation (1, 2, 3, ...). */
export interface JobState {
  readonly spec: JobSpec;
  readonly seq: number;
  readonly tally: JobTally;
  readonly end?: JobEnd;
}

/**
 * What a store reads at `now` besides the state: how many executions, by the phase they were
 * last written in, have a deadline (before the job's expiry) at or before `now`, and the latest
 * such deadline. Redis: ZCOUNT and one ZREVRANGEBYSCORE over two sorted sets of deadlines.
 */
export interface TimedOutTally {
  readonly delivered: number;
  readonly inProgress: number;
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
