/** How commands are shown: to the agent that runs them, and to operators. */
import { RawJson } from '../json-text.ts';
import { attemptOf, type HistoryEntry, type ShownHistory, shownHistory } from './history.ts';
import { endedAt, statusOf, updatedAtOf } from './lifecycle.ts';
import type { CommandRecord } from './model.ts';

/** An instant as the views show it: ISO 8601 UTC with milliseconds; absent: null. */
export const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const raw = (json: string | undefined) => (json === undefined ? null : new RawJson(json));

/** What a fetch hands out at `now` (the record as the fetch left it). */
export function agentView(record: CommandRecord, now: number) {
  return {
    command_id: record.commandId,
    command: record.command,
    args: record.args,
    status: statusOf(record, now),
    created_at: iso(record.createdAt),
    expires_at: iso(record.expiresAt),
    delivery_count: record.deliveryCount ?? 0,
    deadline_at: iso(record.deadlineAt),
    job_id: record.jobId ?? null,
    // A job's execution retried is handed out again under the same command_id, its attempt raised.
    attempt: attemptOf(record),
    // The compact JWS the agent checks before it runs the command (docs/signing.md); null: unsigned.
    signature: record.signature ?? null,
  };
}

/** The whole record at `now`; timed_out and expired already hold at their instant. */
export function operatorView(record: CommandRecord, now: number) {
  const status = statusOf(record, now);
  return {
    command_id: record.commandId,
    agent_id: record.agentId,
    command: record.command,
    args: record.args,
    status,
    created_at: iso(record.createdAt),
    updated_at: iso(updatedAtOf(record, now)),
    expires_at: iso(record.expiresAt),
    timeout_seconds: record.timeoutMs === undefined ? null : record.timeoutMs / 1000,
    delivered_at: iso(record.deliveredAt),
    delivery_count: record.deliveryCount ?? 0,
    started_at: iso(record.startedAt),
    deadline_at: iso(record.deadlineAt),
    completed_at: iso(endedAt(record, now)),
    // The agent's own text, byte for byte.
    status_details: raw(record.statusDetailsJson),
    result: raw(record.resultJson),
    job_id: record.jobId ?? null,
    attempt: attemptOf(record),
    ...(status === 'canceled' ? { cancel_reason: record.cancelReason ?? null } : {}),
  };
}

/** The answer to the enqueue that made the command, exactly as it was (an idempotent replay gives it again). */
export function createdView(record: CommandRecord) {
  const { commandId, agentId, command, args, createdAt, expiresAt, timeoutMs } = record;
  return operatorView(
    { commandId, agentId, command, args, createdAt, expiresAt, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
    createdAt,
  );
}

/**
 * A history as operators read it (lib/commands/history.ts): `history`, oldest first, each change
 * with its instant, attempt, and an update's status_details or a cancel's reason when it has one;
 * `history_truncated` when older changes were dropped.
 */
export function historyView(history: ShownHistory) {
  return {
    history: history.entries.map((entry) => ({
      status: entry.status,
      at: iso(entry.at),
      attempt: entry.attempt,
      ...(entry.statusDetailsJson === undefined ? {} : { status_details: new RawJson(entry.statusDetailsJson) }),
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
    })),
    history_truncated: history.truncated,
  };
}

/** A command's kept history as shown at `now`: its end by time (timed_out, expired) or by a settle added when unwritten. */
export function commandHistoryAt(record: CommandRecord, kept: readonly HistoryEntry[], now: number): ShownHistory {
  const status = statusOf(record, now);
  return shownHistory(kept, {
    status,
    at: endedAt(record, now),
    attempt: attemptOf(record),
    reason: status === 'canceled' ? record.cancelReason : undefined,
  });
}
