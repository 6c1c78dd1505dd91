/**
 * The narrow storage interfaces the handlers depend on. Two implementations: in-memory
 * (the embedded default) and Upstash Redis. Every multi-step change is atomic in each.
 */
import type { TokenIdentity } from '../auth/revocation.ts';
import type {
  Cancellation,
  CommandRecord,
  EnqueueOutcome,
  IdempotentRequest,
  ListPage,
  ListQuery,
  NewCommand,
  Outcome,
  Report,
} from '../commands/model.ts';
import type { JoinOutcome, LeaveOutcome, MemberPage } from '../groups/membership.ts';

export interface CommandStore {
  /**
   * Adds a command at the end of the agent's queue. With `idempotency`, atomically: a key seen
   * within retention with the same fingerprint answers the command it made (nothing added), with
   * another fingerprint `mismatch` (nothing changed).
   */
  enqueue(command: NewCommand, idempotency?: IdempotentRequest): Promise<EnqueueOutcome>;
  /**
   * Up to `limit` commands of the agent not in a terminal state at `now`, oldest first; each
   * fetch counts a delivery (lifecycle `delivered`). Safe to repeat.
   */
  fetch(agentId: string, limit: number, now: number): Promise<CommandRecord[]>;
  /** A progress update or a final result from the agent (lifecycle `applyReport`). */
  complete(agentId: string, commandId: string, report: Report): Promise<Outcome>;
  /** An operator's cancel (lifecycle `cancel`). */
  cancel(agentId: string, commandId: string, cancellation: Cancellation): Promise<{ outcome: Outcome; record: CommandRecord | undefined }>;
  /** One command of one agent, or undefined (a command past retention may still be read until a store meets it). */
  get(agentId: string, commandId: string): Promise<CommandRecord | undefined>;
  /** A page of the agent's commands still within retention at `now`, in enqueue order (lifecycle `listPage`). */
  list(agentId: string, query: ListQuery, now: number): Promise<ListPage>;
  /** The agent's config overrides, or undefined when it has none. */
  getConfig(agentId: string): Promise<Record<string, unknown> | undefined>;
  /** Replaces the agent's config overrides. */
  putConfig(agentId: string, overrides: Record<string, unknown>): Promise<void>;
}

/**
 * Revocation state; the decision itself is lib/auth/revocation.ts, with the store's
 * REVOCATION_MODE. Times are epoch seconds.
 */
export interface RevocationStore {
  /** One round trip: is this token revoked (or, in allowlist mode, not registered)? */
  isRevoked(token: TokenIdentity): Promise<boolean>;
  /** Revokes one token until `expiresAt` (epoch seconds), after which the entry goes by itself. */
  revokeToken(jti: string, expiresAt: number): Promise<void>;
  /** Revokes every token of `sub` issued at or before `cutoff` (epoch seconds). */
  revokeSubject(sub: string, cutoff: number): Promise<void>;
  /**
   * Registers an issued token as active until `expiresAt` (what the auth server does); in
   * allowlist mode only registered tokens are accepted. Recorded in denylist mode too, unused.
   */
  registerToken(jti: string, expiresAt: number): Promise<void>;
}

/**
 * Groups of agents (lib/groups/membership.ts has the rules). Each change keeps both sides, the
 * group's members and the agent's groups, in step, atomically; each method is one store command.
 */
export interface GroupStore {
  /** Puts the agent in the group; nothing changes when it is a member already or in too many groups. */
  join(group: string, agentId: string): Promise<JoinOutcome>;
  /** Takes the agent out of the group; nothing changes when it is no member. */
  leave(group: string, agentId: string): Promise<LeaveOutcome>;
  /** Up to `limit` members in join order, after join position `after` (0: from the start). */
  members(group: string, after: number, limit: number): Promise<MemberPage>;
  /** The groups the agent is in, sorted (sortedGroups). */
  groupsOf(agentId: string): Promise<string[]>;
}

/** A per-key request budget (per-agent rate limit); absent when rate limiting is off. */
export interface RateLimiter {
  /** Counts one request against `key`; `reset` is when the window frees up (epoch ms). */
  limit(key: string): Promise<{ readonly success: boolean; readonly reset: number }>;
}

/** Raised by a store when its backend cannot answer; the edge turns it into a 503. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
