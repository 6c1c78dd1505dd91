/**
 * The command lifecycle, written once: pure functions of (record, time, event). No storage, no
 * HTTP. The in-memory store calls them directly; each Lua script in lib/store/scripts.ts names
 * the function it mirrors; test/parity.test.ts keeps the three in step.
 *
 * Times are epoch milliseconds, always the caller's (the service's clock), never a database's.
 *
 *   pending ──fetch──▶ delivered ──result──▶ completed | failed
 *      └──────────── expiresAt ─────────────▶ expired (no result accepted any more)
 *
 * A finished command stays readable until completedAt + retention, an expired unfinished one until
 * expiresAt + retention; after that it is gone, as if it had never been.
 */
import type { CommandRecord, CommandStatus, CompleteOutcome, ResultSubmission } from './model.ts';

/** True once a result was accepted. */
export function isFinished(record: CommandRecord): boolean {
  return record.resultStatus !== undefined;
}

/** True from expiresAt on (the end itself is already expired). */
export function isExpired(record: CommandRecord, now: number): boolean {
  return record.expiresAt <= now;
}

/** The status shown at `now`: a result wins; otherwise expired, pending or delivered. */
export function statusOf(record: CommandRecord, now: number): CommandStatus {
  if (record.resultStatus !== undefined) return record.resultStatus;
  if (isExpired(record, now)) return 'expired';
  return record.deliveredAt === undefined ? 'pending' : 'delivered';
}

/** A fetch at `now` hands it out: unfinished and not yet expired. */
export function isDeliverable(record: CommandRecord, now: number): boolean {
  return !isFinished(record) && !isExpired(record, now);
}

/** The record as handed out at `now`: deliveredAt is stamped once, by the first fetch. */
export function delivered(record: CommandRecord, now: number): CommandRecord {
  return record.deliveredAt === undefined ? { ...record, deliveredAt: now } : record;
}

/** A record whose life ended at `end` (completedAt, else expiresAt) is kept until this time. */
export function retainedUntil(end: number, retentionMs: number): number {
  return end + retentionMs;
}

/** When the record is gone: retention counts from completedAt once finished, else from expiresAt. */
export function goneAt(record: Pick<CommandRecord, 'expiresAt' | 'completedAt'>, retentionMs: number): number {
  return retainedUntil(record.completedAt ?? record.expiresAt, retentionMs);
}

/** Past retention at `now`: no store shows it, no result reaches it. */
export function isGone(record: CommandRecord, now: number, retentionMs: number): boolean {
  return goneAt(record, retentionMs) <= now;
}

/** The same result again (an agent retrying): same status and the same bytes, or both without a body. */
export function isSameResult(record: CommandRecord, submission: ResultSubmission): boolean {
  return record.resultStatus === submission.status && record.resultJson === submission.resultJson;
}

export interface Completion {
  readonly outcome: CompleteOutcome;
  /** The record after the submission: changed only when accepted; undefined when there is none (or it is gone). */
  readonly record: CommandRecord | undefined;
}

/**
 * The outcome of a submitted result for `record` (undefined: no such command of that agent).
 * First result wins; checked in this order: gone → not_found, finished → duplicate or conflict,
 * expired → expired, else accepted (the record takes the result and completedAt).
 */
export function complete(record: CommandRecord | undefined, submission: ResultSubmission, retentionMs: number): Completion {
  if (record === undefined || isGone(record, submission.completedAt, retentionMs)) return { outcome: 'not_found', record: undefined };
  if (isFinished(record)) return { outcome: isSameResult(record, submission) ? 'duplicate' : 'conflict', record };
  if (isExpired(record, submission.completedAt)) return { outcome: 'expired', record };
  return {
    outcome: 'accepted',
    record: {
      ...record,
      resultStatus: submission.status,
      ...(submission.resultJson === undefined ? {} : { resultJson: submission.resultJson }),
      completedAt: submission.completedAt,
    },
  };
}
