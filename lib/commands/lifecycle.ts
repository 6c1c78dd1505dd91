/**
 * The command lifecycle, written once: pure functions of (record, time, event). No storage, no
 * HTTP. The in-memory store calls them directly; each Lua rule in lib/store/lua/rules/ is named after
 * the function it mirrors; test/stores/parity.test.ts keeps the three in step.
 *
 * Times are epoch milliseconds, always the caller's (the service's clock), never a database's.
 * Callers' clocks differ while the store decides the order, so a change is stamped no earlier
 * than the record's last one (changeAt).
 *
 *   pending ──fetch──▶ delivered ──in_progress──▶ in_progress ──result──▶ completed | failed | rejected
 *      │                  │  └────────────── result ───────────────────▶ completed | failed | rejected
 *      └──────────────────┴─── any state not terminal ── cancel ────────▶ canceled
 *   deadlineAt (first delivery + timeout, or a step timeout) ───────────▶ timed_out
 *   expiresAt ─────────────────────────────────────────────────────────▶ expired
 *
 * A terminal state never changes. timed_out and expired are never written: they hold from their
 * instant on (the earlier of deadlineAt and expiresAt; a tie is expired) for every reader, so no
 * sweeper is needed. A command stays readable until its end (completedAt, else that instant)
 * plus retention; after that it is gone, as if it had never been.
 */
import type {
  Cancellation,
  CommandRecord,
  CommandStatus,
  ListPage,
  ListQuery,
  NewCommand,
  Outcome,
  ProgressSubmission,
  Report,
  ResultSubmission,
  TerminalStatus,
} from './model.ts';
import { TERMINAL_STATUSES } from './model.ts';
import { attemptOf } from './history.ts';

const TERMINAL: ReadonlySet<CommandStatus> = new Set<CommandStatus>(TERMINAL_STATUSES);

export function isTerminal(status: CommandStatus): status is TerminalStatus {
  return TERMINAL.has(status);
}

/** The instant time alone ends the command, and how: the earlier of deadlineAt and expiresAt (a tie is expired). */
export function timeEnd(record: Pick<CommandRecord, 'expiresAt' | 'deadlineAt'>): { status: 'timed_out' | 'expired'; at: number } {
  if (record.deadlineAt !== undefined && record.deadlineAt < record.expiresAt) return { status: 'timed_out', at: record.deadlineAt };
  return { status: 'expired', at: record.expiresAt };
}

/** The status at `now`: a written end wins; then the end by time; then in_progress, delivered, pending. */
export function statusOf(record: CommandRecord, now: number): CommandStatus {
  if (record.resultStatus !== undefined) return record.resultStatus;
  const end = timeEnd(record);
  if (end.at <= now) return end.status;
  if (record.startedAt !== undefined) return 'in_progress';
  return record.deliveredAt === undefined ? 'pending' : 'delivered';
}

/** When it reached its terminal state, if it has by `now`. */
export function endedAt(record: CommandRecord, now: number): number | undefined {
  if (record.completedAt !== undefined) return record.completedAt;
  const end = timeEnd(record);
  return end.at <= now ? end.at : undefined;
}

/** The last change at `now`: the written one, or the instant time ended it (always later than any write). */
export function updatedAtOf(record: CommandRecord, now: number): number {
  if (record.resultStatus === undefined) {
    const end = timeEnd(record);
    if (end.at <= now) return end.at;
  }
  return record.updatedAt ?? record.createdAt;
}

/** A fetch at `now` hands it out: not yet in a terminal state. */
export function isDeliverable(record: CommandRecord, now: number): boolean {
  return !isTerminal(statusOf(record, now));
}

/**
 * The record as handed out at `now`: deliveryCount counts every fetch; the first one stamps
 * deliveredAt and updatedAt and, when the command has a timeout, starts its deadline.
 */
export function delivered(record: CommandRecord, now: number): CommandRecord {
  const count = (record.deliveryCount ?? 0) + 1;
  if (record.deliveredAt !== undefined) return { ...record, deliveryCount: count };
  const startsDeadline = record.timeoutMs !== undefined && record.deadlineAt === undefined;
  return {
    ...record,
    deliveredAt: now,
    deliveryCount: count,
    updatedAt: now,
    ...(startsDeadline ? { deadlineAt: now + (record.timeoutMs as number) } : {}),
  };
}

/** A record whose life ended at `end` is kept until this time. */
export function retainedUntil(end: number, retentionMs: number): number {
  return end + retentionMs;
}

/** When the record is gone: retention counts from completedAt once written, else from the end by time. */
export function goneAt(record: Pick<CommandRecord, 'expiresAt' | 'deadlineAt' | 'completedAt'>, retentionMs: number): number {
  return retainedUntil(record.completedAt ?? timeEnd(record).at, retentionMs);
}

/** Past retention at `now`: no store shows it, nothing reaches it. */
export function isGone(record: CommandRecord, now: number, retentionMs: number): boolean {
  return goneAt(record, retentionMs) <= now;
}

/** The same result again (an agent retrying): same status and the same bytes, or both without a body. */
export function isSameResult(record: CommandRecord, submission: ResultSubmission): boolean {
  return record.resultStatus === submission.status && record.resultJson === submission.resultJson;
}

export interface Transition {
  readonly outcome: Outcome;
  /** The record after the event: changed only when accepted; undefined when there is none (or it is gone). */
  readonly record: CommandRecord | undefined;
}

const NOT_FOUND: Transition = { outcome: { outcome: 'not_found' }, record: undefined };

/**
 * The instant a change made at `at` is stamped at: never before the record's last written change.
 * Times are each caller's clock while Redis decides the order, so a report or cancel made on a
 * clock behind the one that stamped the last change (a delivery by a faster one) is stamped at
 * that change: started_at and completed_at are never before delivered_at. Every written change
 * came before the record's end by time (a delivery while deliverable, a report while live), so
 * the raise never crosses it and the status reads the same at either instant.
 */
export function changeAt(record: CommandRecord, at: number): number {
  return Math.max(at, record.updatedAt ?? record.createdAt);
}

/**
 * An in_progress update made at `update.at`, stamped at changeAt: refused in a terminal state;
 * otherwise the command is (or stays) in_progress, startedAt is stamped once, updatedAt moves,
 * status_details is replaced when given, and a step timeout moves the deadline to the stamp +
 * timeoutMs. A command never delivered starts its own timeout here.
 */
export function progress(record: CommandRecord, update: ProgressSubmission): Transition {
  const at = changeAt(record, update.at);
  const status = statusOf(record, at);
  if (isTerminal(status)) return { outcome: { outcome: 'refused', status }, record };
  const deadlineAt =
    update.timeoutMs !== undefined
      ? at + update.timeoutMs
      : (record.deadlineAt ?? (record.timeoutMs === undefined ? undefined : at + record.timeoutMs));
  const next: CommandRecord = {
    ...record,
    startedAt: record.startedAt ?? at,
    updatedAt: at,
    ...(deadlineAt === undefined ? {} : { deadlineAt }),
    ...(update.statusDetailsJson === undefined ? {} : { statusDetailsJson: update.statusDetailsJson }),
  };
  return { outcome: { outcome: 'accepted', status: statusOf(next, at) }, record: next };
}

/**
 * A final result, stamped at changeAt: the first written end wins (the same result again is a
 * duplicate, anything else refused with the state that won); after timed_out or expired, refused.
 */
export function finish(record: CommandRecord, submission: ResultSubmission): Transition {
  const at = changeAt(record, submission.completedAt);
  const status = statusOf(record, at);
  if (record.resultStatus !== undefined) {
    const outcome = isSameResult(record, submission) ? 'duplicate' : 'refused';
    return { outcome: { outcome, status }, record };
  }
  if (isTerminal(status)) return { outcome: { outcome: 'refused', status }, record };
  return {
    outcome: { outcome: 'accepted', status: submission.status },
    record: {
      ...record,
      resultStatus: submission.status,
      ...(submission.resultJson === undefined ? {} : { resultJson: submission.resultJson }),
      ...(submission.statusDetailsJson === undefined ? {} : { statusDetailsJson: submission.statusDetailsJson }),
      completedAt: at,
      updatedAt: at,
    },
  };
}

/** The time a report is made at, on the caller's clock (its change is stamped at changeAt). */
export function reportedAt(report: Report): number {
  return report.status === 'in_progress' ? report.at : report.completedAt;
}

/**
 * Does a report miss the command's current attempt? It names another one (`attempt`), or the
 * current one is a job's execution retried and not delivered since (phase retrying): whatever the
 * agent ran, it ran an attempt that is over.
 */
export function staleAttempt(record: CommandRecord, report: Report): boolean {
  if (report.attempt !== undefined && report.attempt !== attemptOf(record)) return true;
  return record.jobId !== undefined && record.deliveredAt === undefined && record.resultStatus === undefined;
}

/**
 * What the agent reported, for `record` (undefined: no such command of that agent): gone →
 * not_found; then progress or finish.
 */
export function applyReport(record: CommandRecord | undefined, report: Report, retentionMs: number): Transition {
  if (record === undefined || isGone(record, reportedAt(report), retentionMs)) return NOT_FOUND;
  if (staleAttempt(record, report)) return { outcome: { outcome: 'stale_attempt', attempt: attemptOf(record) }, record };
  return report.status === 'in_progress' ? progress(record, report) : finish(record, report);
}

/**
 * An operator's cancel, stamped at changeAt: from any state that is not terminal; a terminal one
 * is refused with its state.
 */
export function cancel(record: CommandRecord | undefined, cancellation: Cancellation, retentionMs: number): Transition {
  const { reason } = cancellation;
  if (record === undefined || isGone(record, cancellation.at, retentionMs)) return NOT_FOUND;
  const at = changeAt(record, cancellation.at);
  const status = statusOf(record, at);
  if (isTerminal(status)) return { outcome: { outcome: 'refused', status }, record };
  return {
    outcome: { outcome: 'accepted', status: 'canceled' },
    record: {
      ...record,
      resultStatus: 'canceled',
      completedAt: at,
      updatedAt: at,
      ...(reason === undefined ? {} : { cancelReason: reason }),
    },
  };
}

/** The record a new command starts as. */
export function created(command: NewCommand): CommandRecord {
  return { ...command };
}

/** One of an agent's commands with its enqueue sequence (1, 2, 3, ...). */
export interface Sequenced {
  readonly seq: number;
  readonly record: CommandRecord;
}

/**
 * Entries one listing page examines at most: the agent's log (GET /api/agents/{id}/commands)
 * and a job's targets (GET /api/jobs/{id}/executions), whatever the filter matches. So a page may hold fewer than `limit` items, even none, with a next cursor; only a page
 * without a next cursor is the end. Gone entries a page meets and drops (log entries past
 * retention, jobs past theirs) have an allowance of their own, the same number: what one store has
 * dropped already and the other drops now never changes a page's answer until a page meets that
 * many. A page of 250 + 250 entries stays a few ms inside Redis (about 10 µs an entry when
 * each has a command to read); the job list has its own, smaller budget (rules.JOB_PAGE_BUDGET).
 */
export const PAGE_BUDGET = 250;

/** What a listing page makes of one entry it examines: gone (dropped, if the store keeps it still), shown, or passed over. */
export type Met = 'gone' | 'match' | 'other';

export interface BudgetedPage<T> {
  readonly taken: readonly T[];
  /** The entry the next page starts after; undefined: the end. */
  readonly resume: T | undefined;
}

/**
 * The walk every listing page makes over its entries (in listing order, from the cursor); `meet`
 * runs on each entry examined, and only on those. It takes the matching ones, up to `limit`, and
 * stops (a) at the first match past `limit`, resuming after the last entry shown or passed over
 * before it; (b) at the first entry not gone past `budget` such entries, resuming after the last
 * of them; (c) at the next entry once `pruneBudget` gone ones were met, resuming after the last
 * one met; (d) at the end, with no cursor. Where a page resumes never depends on how many gone
 * entries it met (below `pruneBudget`), so stores that drop gone entries at other moments give
 * the same pages.
 */
export function budgetedPage<T>(
  entries: Iterable<T>,
  limit: number,
  budget: number,
  meet: (entry: T) => Met,
  pruneBudget = PAGE_BUDGET,
): BudgetedPage<T> {
  const taken: T[] = [];
  let seen = 0;
  let pruned = 0;
  let last: T | undefined;
  let lastMet: T | undefined;
  for (const entry of entries) {
    if (pruned >= pruneBudget) return { taken, resume: lastMet };
    const met = meet(entry);
    lastMet = entry;
    if (met === 'gone') {
      pruned += 1;
      continue;
    }
    if (seen >= budget || (met === 'match' && taken.length >= limit)) return { taken, resume: last };
    if (met === 'match') taken.push(entry);
    seen += 1;
    last = entry;
  }
  return { taken, resume: undefined };
}

/**
 * A page of `entries` (enqueue order) at `now` (budgetedPage): those after `query.after`, not
 * gone, of the statuses asked for, at most `limit`, examining at most `query.budget` (default
 * PAGE_BUDGET) entries not gone after the cursor; nextAfter is the sequence the next page starts
 * after, undefined at the end.
 */
export function listPage(entries: readonly Sequenced[], query: ListQuery, now: number, retentionMs: number): ListPage {
  const page = budgetedPage(
    entries.filter(({ seq }) => seq > query.after),
    query.limit,
    query.budget ?? PAGE_BUDGET,
    ({ record }) => listed(record, query.statuses, now, retentionMs),
  );
  return { records: page.taken.map(({ record }) => record), nextAfter: page.resume?.seq };
}

/** One command as a listing meets it at `now`: gone, of the statuses asked for (undefined: all), or not. */
export function listed(record: CommandRecord, statuses: readonly CommandStatus[] | undefined, now: number, retentionMs: number): Met {
  if (isGone(record, now, retentionMs)) return 'gone';
  return statuses === undefined || statuses.includes(statusOf(record, now)) ? 'match' : 'other';
}

/** An idempotency key seen at `createdAt` is honoured until this time. */
export function idempotentUntil(createdAt: number, retentionMs: number): number {
  return createdAt + retentionMs;
}

/** A stored idempotency key: the request's fingerprint and the command it made. */
export interface IdempotencyEntry {
  readonly fingerprint: string;
  readonly commandId: string;
  readonly until: number;
}

/**
 * What an enqueue with an Idempotency-Key does at `now`: `create` when the key is new (or its
 * window has passed, or its command is gone), `replay` for the same request, `mismatch` for
 * another one.
 */
export function idempotency(
  entry: IdempotencyEntry | undefined,
  fingerprint: string,
  now: number,
  commandExists: boolean,
): 'create' | 'replay' | 'mismatch' {
  if (entry === undefined || entry.until <= now || !commandExists) return 'create';
  return entry.fingerprint === fingerprint ? 'replay' : 'mismatch';
}
