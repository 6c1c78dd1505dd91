/**
 * The command model: what a command is, as stored and as submitted. Plain data, no storage and
 * no HTTP; the rules over it live in lifecycle.ts, how it is shown in views.ts.
 */

export type CommandStatus = 'pending' | 'delivered' | 'completed' | 'failed' | 'expired';
export type ResultStatus = 'completed' | 'failed';

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
  readonly deliveredAt?: number;
  readonly completedAt?: number;
  /** Set once a result arrives. */
  readonly resultStatus?: ResultStatus;
  /** The result exactly as accepted, JSON-encoded; absent when the agent sent none. */
  readonly resultJson?: string;
}

export interface NewCommand {
  readonly commandId: string;
  readonly agentId: string;
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface ResultSubmission {
  readonly status: ResultStatus;
  /** JSON encoding of the result; undefined when none was sent. */
  readonly resultJson: string | undefined;
  readonly completedAt: number;
}

/**
 * accepted: this submission completed the command.
 * duplicate: the same result had already been accepted (an agent retrying).
 * conflict: the command already has another result.
 * expired: the command expired before any result arrived.
 * not_found: no such command for that agent.
 */
export type CompleteOutcome = 'accepted' | 'duplicate' | 'conflict' | 'expired' | 'not_found';
