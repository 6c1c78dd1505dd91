/**
 * A command's history: every written change of its status, in order (first delivery, each
 * in_progress update, its result or cancel), kept bounded beside the command and gone with it.
 * The in-memory store appends with appendHistory; the Redis store with lua/include/history.lua,
 * which writes the same entries (HISTORY_KEPT + 1 kept, so that "older ones were dropped" is
 * known). What no one writes, because it follows from time (timed_out, expired) or from a job's
 * end met later (a forced cancel), is added when the history is read (shownHistory), from the
 * status the same read shows, so the two always agree.
 */
import { TERMINAL_STATUSES, type CommandRecord, type CommandStatus } from './model.ts';

/** The most recent entries a history shows; older ones are dropped (`truncated`). */
export const HISTORY_KEPT = 50;

/** One change of a command's status. Times are epoch ms. */
export interface HistoryEntry {
  readonly status: CommandStatus;
  readonly at: number;
  /** The execution's attempt the change belongs to (attemptOf). */
  readonly attempt: number;
  /** An in_progress update's status_details, as the agent sent them (JSON text). */
  readonly statusDetailsJson?: string;
  /** A cancel's reason. */
  readonly reason?: string;
}

/** The history as a reader sees it. */
export interface ShownHistory {
  readonly entries: readonly HistoryEntry[];
  /** Older entries were dropped: only the HISTORY_KEPT most recent are shown. */
  readonly truncated: boolean;
}

/**
 * The attempt a change of `record` belongs to: 1 while a command has a single attempt; the one
 * place a record's attempt number is read for its history.
 */
export function attemptOf(record: CommandRecord): number {
  return (record as { readonly attempt?: number }).attempt ?? 1;
}

/** The entry for a change of `record` to `status` at `at`. */
export function historyEntry(
  record: CommandRecord,
  status: CommandStatus,
  at: number,
  extra: { readonly statusDetailsJson?: string | undefined; readonly reason?: string | undefined } = {},
): HistoryEntry {
  return {
    status,
    at,
    attempt: attemptOf(record),
    ...(extra.statusDetailsJson === undefined ? {} : { statusDetailsJson: extra.statusDetailsJson }),
    ...(extra.reason === undefined ? {} : { reason: extra.reason }),
  };
}

/** The history kept after `entry`: the HISTORY_KEPT + 1 most recent (one more than shown, to know that older ones went). */
export function appendHistory(kept: readonly HistoryEntry[] | undefined, entry: HistoryEntry): HistoryEntry[] {
  return [...(kept ?? []), entry].slice(-(HISTORY_KEPT + 1));
}

const TERMINAL: ReadonlySet<CommandStatus> = new Set(TERMINAL_STATUSES);

/**
 * The history shown at a read: the kept entries, then, when the status read is terminal and the
 * last kept entry is not (timed_out, expired, a forced job cancel settled at the read, a target never
 * delivered that its job ended), that end as one more entry (`end`), so the history ends with
 * the status shown. At most HISTORY_KEPT entries, the most recent.
 */
export function shownHistory(
  kept: readonly HistoryEntry[],
  end: { readonly status: CommandStatus; readonly at: number | undefined; readonly attempt: number; readonly reason?: string | undefined },
): ShownHistory {
  const entries = [...kept];
  const last = entries.at(-1);
  if (TERMINAL.has(end.status) && end.at !== undefined && (last === undefined || !TERMINAL.has(last.status))) {
    entries.push({ status: end.status, at: end.at, attempt: end.attempt, ...(end.reason === undefined ? {} : { reason: end.reason }) });
  }
  return { entries: entries.slice(-HISTORY_KEPT), truncated: entries.length > HISTORY_KEPT };
}
