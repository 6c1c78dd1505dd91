/**
 * The embedded default: everything in this process's memory. Each method runs to completion
 * without awaiting in between, so every change is atomic on Node's single thread.
 */
import type { CommandRecord, CompleteOutcome, NewCommand, ResultSubmission } from '../commands/model.ts';
import type { CommandStore, RevocationStore, TokenIdentity } from './types.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class MemoryCommandStore implements CommandStore {
  /** Commands per agent, in enqueue order. Finished ones stay readable until retention ends. */
  private readonly queues = new Map<string, Map<string, Mutable<CommandRecord>>>();
  private readonly configs = new Map<string, Record<string, unknown>>();
  private readonly retentionMs: number;

  constructor(options: { resultRetentionSeconds: number }) {
    this.retentionMs = options.resultRetentionSeconds * 1000;
  }

  async enqueue(command: NewCommand): Promise<void> {
    let queue = this.queues.get(command.agentId);
    if (!queue) {
      queue = new Map();
      this.queues.set(command.agentId, queue);
    }
    queue.set(command.commandId, { ...command, args: deepFreeze(structuredClone(command.args)) });
  }

  async fetch(agentId: string, limit: number, now: number): Promise<CommandRecord[]> {
    const queue = this.queues.get(agentId);
    if (!queue) return [];
    const out: CommandRecord[] = [];
    for (const [id, record] of queue) {
      if (this.isGone(record, now)) {
        queue.delete(id);
        continue;
      }
      if (record.resultStatus !== undefined || record.expiresAt <= now) continue;
      record.deliveredAt ??= now;
      out.push(copy(record));
      if (out.length >= limit) break;
    }
    return out;
  }

  async complete(agentId: string, commandId: string, submission: ResultSubmission): Promise<CompleteOutcome> {
    const record = this.queues.get(agentId)?.get(commandId);
    if (!record || this.isGone(record, submission.completedAt)) return 'not_found';
    if (record.resultStatus !== undefined) {
      return record.resultStatus === submission.status && record.resultJson === submission.resultJson ? 'duplicate' : 'conflict';
    }
    if (record.expiresAt <= submission.completedAt) return 'expired';
    record.resultStatus = submission.status;
    if (submission.resultJson !== undefined) record.resultJson = submission.resultJson;
    record.completedAt = submission.completedAt;
    return 'accepted';
  }

  async get(agentId: string, commandId: string): Promise<CommandRecord | undefined> {
    const record = this.queues.get(agentId)?.get(commandId);
    return record ? copy(record) : undefined;
  }

  async getConfig(agentId: string): Promise<Record<string, unknown> | undefined> {
    const config = this.configs.get(agentId);
    return config ? structuredClone(config) : undefined;
  }

  async putConfig(agentId: string, overrides: Record<string, unknown>): Promise<void> {
    this.configs.set(agentId, structuredClone(overrides));
  }

  /** A finished or expired command is dropped once the retention period has passed. */
  private isGone(record: CommandRecord, now: number): boolean {
    const end = record.completedAt ?? record.expiresAt;
    return end + this.retentionMs <= now;
  }
}

/** A snapshot of a record; its args are frozen at enqueue, so they can be shared, not cloned. */
function copy(record: CommandRecord): CommandRecord {
  return { ...record };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export class MemoryRevocationStore implements RevocationStore {
  private readonly tokens = new Map<string, number>();
  private readonly subjects = new Map<string, number>();
  private readonly nowSeconds: () => number;

  constructor(nowSeconds: () => number) {
    this.nowSeconds = nowSeconds;
  }

  async isRevoked(token: TokenIdentity): Promise<boolean> {
    if (token.jti !== undefined) {
      const until = this.tokens.get(token.jti);
      if (until !== undefined) {
        if (until > this.nowSeconds()) return true;
        this.tokens.delete(token.jti);
      }
    }
    const cutoff = this.subjects.get(token.sub);
    // A token without iat cannot show it was issued after the cut-off.
    return cutoff !== undefined && (token.iat === undefined || token.iat <= cutoff);
  }

  async revokeToken(jti: string, expiresAt: number): Promise<void> {
    this.tokens.set(jti, expiresAt);
  }

  async revokeSubject(sub: string, cutoff: number): Promise<void> {
    this.subjects.set(sub, Math.max(cutoff, this.subjects.get(sub) ?? 0));
  }
}
