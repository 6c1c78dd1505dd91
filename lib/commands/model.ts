/**
 * The command model: what a command is, as stored and as submitted. Plain data, no storage and
 * no HTTP; the rules over it live in lifecycle.ts, how it is shown in views.ts.
 */

/** Every state a command can be in; lifecycle.ts says how one leads to another. */
export const COMMAND_STATUSES = [
  'pending',
  'delivered',
  'in_progress',
  'completed',
  'failed',
  'rejected',
  'timed_out',
  'canceled',
  'expired',
] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

/** The states that never change again. */
export const TERMINAL_STATUSES = ['completed', 'failed', 'rejected', 'timed_out', 'canceled', 'expired'] as const;
/** A state that never changes again. */
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];
/** The final statuses an agent may report. */
export type ResultStatus = 'completed' | 'failed' | 'rejected';
/** The terminal states that are written (a result or a cancel); timed_out and expired follow from time alone. */
export type WrittenStatus = ResultStatus | 'canceled';

/** The largest result an agent may send (also the `result_max_bytes` of the agent config). */
export const RESULT_MAX_BYTES = 256 * 1024;

/** A command as stored. Times are epoch milliseconds. */
export interface CommandRecord {
  readonly commandId: string;
  readonly agentId: string;
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** From the first delivery on, it must end within this; absent: no timeout. */
  readonly timeoutMs?: number;
  /** The last written change (first delivery, progress, result, cancel); absent: createdAt. */
  readonly updatedAt?: number;
  readonly deliveredAt?: number;
  /** How many fetches handed it out; absent: 0. */
  readonly deliveryCount?: number;
  /** The first in_progress update. */
  readonly startedAt?: number;
  /** It times out at this instant unless it has ended before. */
  readonly deadlineAt?: number;
  /** The latest status_details of an in_progress update, JSON-encoded. */
  readonly statusDetailsJson?: string;
  /** When the written terminal state (resultStatus) was reached. */
  readonly completedAt?: number;
  /** Set once a result or a cancel is accepted. */
  readonly resultStatus?: WrittenStatus;
  /** The result exactly as accepted, JSON-encoded; absent when the agent sent none. */
  readonly resultJson?: string;
  /** The operator's reason, when canceled with one. */
  readonly cancelReason?: string;
  /** The job this command is the execution of (lib/jobs); its commandId is then the job id. */
  readonly jobId?: string;
  /**
   * A job's execution: which attempt this is (absent: the first). A retry (lib/jobs/rules.ts
   * nextAttempt) starts the next one, pending again, for the same agent.
   */
  readonly attempt?: number;
  /** The service's signature (lib/signing, a compact JWS), made once and handed out on every delivery unchanged. */
  readonly signature?: string;
}

/** What an enqueue gives a command: the record's first fields. */
export type NewCommand = Pick<
  CommandRecord,
  'commandId' | 'agentId' | 'command' | 'args' | 'createdAt' | 'expiresAt' | 'timeoutMs' | 'signature'
>;

/** A final result from the agent. */
export interface ResultSubmission {
  readonly status: ResultStatus;
  /** JSON encoding of status_details sent with the result (why it failed or was rejected); undefined: the details stay. */
  readonly statusDetailsJson?: string | undefined;
  /** The attempt the agent reports on; undefined: the current one (staleAttempt). */
  readonly attempt?: number | undefined;
  /** JSON encoding of the result; undefined when none was sent. */
  readonly resultJson: string | undefined;
  readonly completedAt: number;
}

/** An in_progress update from the agent. */
export interface ProgressSubmission {
  readonly status: 'in_progress';
  /** The attempt the agent reports on; undefined: the current one (staleAttempt). */
  readonly attempt?: number | undefined;
  /** JSON encoding of status_details; undefined: the details stay as they were. */
  readonly statusDetailsJson: string | undefined;
  /** A step timeout: the deadline moves to `at + timeoutMs`; undefined: it stays. */
  readonly timeoutMs: number | undefined;
  readonly at: number;
}

/** What an agent may send to POST /api/results. */
export type Report = ResultSubmission | ProgressSubmission;

export interface Cancellation {
  readonly reason: string | undefined;
  readonly at: number;
}

/**
 * accepted: this submission changed the command (to `status`).
 * duplicate: the same result had already been accepted (an agent retrying).
 * refused: the command is already in the terminal state `status`, which stays.
 * not_found: no such command for that agent.
 * stale_attempt: the report names another attempt than the current one, or the current one has not
 * been delivered yet (a job's execution waiting for its retry); `attempt` is the current one.
 * Nothing changed.
 */
export type Outcome =
  | { readonly outcome: 'accepted' | 'duplicate' | 'refused'; readonly status: CommandStatus }
  | { readonly outcome: 'stale_attempt'; readonly attempt: number }
  | { readonly outcome: 'not_found' };

/** An enqueue that carries an Idempotency-Key (scoped to the operator's sub and the agent). */
export interface IdempotentRequest {
  readonly sub: string;
  readonly key: string;
  /** A digest of the request; the same key with another fingerprint is refused. */
  readonly fingerprint: string;
}

/**
 * created: the command is new. replayed: the key was seen with the same request; `record` is the
 * command it made. mismatch: the key was seen with another request; nothing changed.
 */
export type EnqueueOutcome =
  | { readonly outcome: 'created' | 'replayed'; readonly record: CommandRecord }
  | { readonly outcome: 'mismatch' };

/** A page of an agent's commands for operators. */
export interface ListQuery {
  /** Only these statuses (at `now`); undefined: every status. */
  readonly statuses: readonly CommandStatus[] | undefined;
  readonly limit: number;
  /** The enqueue sequence after which the page starts; 0: from the first. */
  readonly after: number;
  /** Entries the page examines at most (lifecycle.PAGE_BUDGET when not given; tests set fewer). */
  readonly budget?: number;
}

export interface ListPage {
  readonly records: readonly CommandRecord[];
  /** The sequence the next page starts after (it may hold fewer than `limit` records, even none); undefined when this page is the last. */
  readonly nextAfter: number | undefined;
}
