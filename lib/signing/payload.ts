/**
 * What a command's signature covers: the command bound to its agent, its args by their canonical
 * hash (jcs.ts), its job and attempt when it is a job execution, and when it stops being valid.
 * Plain data, no I/O.
 */
import type { CommandRecord } from '../commands/model.ts';
import { argsSha256 } from './jcs.ts';

/** The signed payload. Times are ISO 8601 UTC with milliseconds, as the API shows them. */
export interface CommandPayload {
  readonly agent_id: string;
  readonly command_id: string;
  readonly command: string;
  readonly args_sha256: string;
  /** Only on a job execution. */
  readonly job_id?: string;
  /** Only on a job execution that carries an attempt. */
  readonly attempt?: number;
  readonly issued_at: string;
  readonly expires_at: string;
}

/** The record's attempt, when its store gave it one (job executions that can be retried). */
function attemptOfRecord(record: CommandRecord): number | undefined {
  const attempt = (record as { readonly attempt?: unknown }).attempt;
  return typeof attempt === 'number' ? attempt : undefined;
}

/** The payload for `record`, signed at `issuedAt` (epoch ms). */
export function commandPayload(record: CommandRecord, issuedAt: number): CommandPayload {
  const attempt = attemptOfRecord(record);
  return {
    agent_id: record.agentId,
    command_id: record.commandId,
    command: record.command,
    args_sha256: argsSha256(record.args),
    ...(record.jobId === undefined ? {} : { job_id: record.jobId }),
    ...(attempt === undefined ? {} : { attempt }),
    issued_at: new Date(issuedAt).toISOString(),
    expires_at: new Date(record.expiresAt).toISOString(),
  };
}
