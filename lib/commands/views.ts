/** How commands are shown: to the agent that runs them, and to operators. */
import { RawJson } from '../json-text.ts';
import { statusOf } from './lifecycle.ts';
import type { CommandRecord } from './model.ts';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function agentView(record: CommandRecord) {
  return {
    command_id: record.commandId,
    command: record.command,
    args: record.args,
    created_at: iso(record.createdAt),
    expires_at: iso(record.expiresAt),
  };
}

export function operatorView(record: CommandRecord, now: number) {
  return {
    command_id: record.commandId,
    agent_id: record.agentId,
    command: record.command,
    args: record.args,
    status: statusOf(record, now),
    created_at: iso(record.createdAt),
    expires_at: iso(record.expiresAt),
    delivered_at: iso(record.deliveredAt),
    completed_at: iso(record.completedAt),
    // The result's text as the agent sent it, byte for byte.
    result: record.resultJson === undefined ? null : new RawJson(record.resultJson),
  };
}
