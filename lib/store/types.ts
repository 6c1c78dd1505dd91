/**
 * The narrow storage interfaces the handlers depend on. Two implementations: in-memory
 * (the embedded default) and Upstash Redis. Every multi-step change is atomic in each.
 *
 * Admission: every method that serves a request takes the caller's `Admission` and, in the same
 * atomic step as its action (one script in Redis, one synchronous run in memory), first decides
 * the token's revocation (lib/auth/revocation.ts) and counts the agent's rate limit
 * (lib/store/ratelimit.ts). A refused request reads and changes nothing: the method throws
 * TokenError('token_revoked') or RateLimitedError. Without an admission (the operator CLI,
 * tests setting up state) the action runs unchecked.
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
import type {
  CancelJobOutcome,
  CreateJobOutcome,
  ExecutionPage,
  ExecutionQuery,
  JobCancellation,
  JobListPage,
  JobListQuery,
  JobSnapshot,
  JobSpec,
} from '../jobs/model.ts';

/** Who asks: the verified token, and the caller's clock for the rate limit (epoch ms). */
export interface Admission {
  readonly token: TokenIdentity;
  readonly now: number;
}

export interface CommandStore {
  /**
   * Adds a command at the end of the agent's queue. With `idempotency`, atomically: a key seen
   * within retention with the same fingerprint answers the command it made (nothing added), with
   * another fingerprint `mismatch` (nothing changed).
   */
  enqueue(command: NewCommand, idempotency?: IdempotentRequest, admission?: Admission): Promise<EnqueueOutcome>;
  /**
   * Up to `limit` commands of the agent not in a terminal state at `now`, oldest first; each
   * fetch counts a delivery (lifecycle `delivered`). Safe to repeat.
   */
  fetch(agentId: string, limit: number, now: number, admission?: Admission): Promise<CommandRecord[]>;
  /** A progress update or a final result from the agent (lifecycle `applyReport`). */
  complete(agentId: string, commandId: string, report: Report, admission?: Admission): Promise<Outcome>;
  /** An operator's cancel (lifecycle `cancel`). */
  cancel(
    agentId: string,
    commandId: string,
    cancellation: Cancellation,
    admission?: Admission,
  ): Promise<{ outcome: Outcome; record: CommandRecord | undefined }>;
  /** One command of one agent, or undefined (a command past retention may still be read until a store meets it). */
  get(agentId: string, commandId: string, admission?: Admission): Promise<CommandRecord | undefined>;
  /** A page of the agent's commands still within retention at `now`, in enqueue order (lifecycle `listPage`). */
  list(agentId: string, query: ListQuery, now: number, admission?: Admission): Promise<ListPage>;
  /** The agent's config overrides, or undefined when it has none. */
  getConfig(agentId: string, admission?: Admission): Promise<Record<string, unknown> | undefined>;
  /** Replaces the agent's config overrides. */
  putConfig(agentId: string, overrides: Record<string, unknown>, admission?: Admission): Promise<void>;
}

/**
 * Revocation state; the decision itself is lib/auth/revocation.ts, with the store's
 * REVOCATION_MODE. Times are epoch seconds.
 */
export interface RevocationStore {
  /** One round trip: is this token revoked (or, in allowlist mode, not registered)? Counts nothing. */
  isRevoked(token: TokenIdentity): Promise<boolean>;
  /** The admission alone (one round trip), for a request whose handler touches no other store. */
  admit(admission: Admission): Promise<void>;
  /** Revokes one token until `expiresAt` (epoch seconds), after which the entry goes by itself. */
  revokeToken(jti: string, expiresAt: number, admission?: Admission): Promise<void>;
  /** Revokes every token of `sub` issued at or before `cutoff` (epoch seconds). */
  revokeSubject(sub: string, cutoff: number, admission?: Admission): Promise<void>;
  /**
   * Registers an issued token as active until `expiresAt` (what the auth server does); in
   * allowlist mode only registered tokens are accepted. Recorded in denylist mode too, unused.
   */
  registerToken(jti: string, expiresAt: number): Promise<void>;
}

/**
 * Groups of agents (lib/groups/membership.ts has the rules). Each change keeps both sides, the
 * group's members and the agent's groups, in step, atomically; each method is one store command,
 * the admission with it.
 */
export interface GroupStore {
  /**
   * Puts the agent in the group; nothing changes when it is a member already or in too many groups.
   * A join at `now` (default: the admission's, else the wall clock) also makes the agent a target
   * of the group's continuous jobs in progress then.
   */
  join(group: string, agentId: string, admission?: Admission, now?: number): Promise<JoinOutcome>;
  /**
   * Takes the agent out of the group; nothing changes when it is no member. Nothing it has is
   * canceled, and an execution of the group's jobs it is still to receive stays its own.
   */
  leave(group: string, agentId: string, admission?: Admission): Promise<LeaveOutcome>;
  /** Up to `limit` members in join order, after join position `after` (0: from the start). */
  members(group: string, after: number, limit: number, admission?: Admission): Promise<MemberPage>;
  /** The groups the agent is in, sorted (sortedGroups). */
  groupsOf(agentId: string, admission?: Admission): Promise<string[]>;
}

/**
 * Fleet jobs (lib/jobs/rules.ts has the rules). A job's executions are made in the agents' own
 * polls (CommandStore.fetch), and group changes (GroupStore.join/leave) keep a job's targets
 * right, so the three stores share one state: in memory one book, in Redis one key space.
 * Each method is one store command, the admission with it; every one first writes an abort
 * the job has reached (abortAt).
 */
export interface JobStore {
  /**
   * Creates the job at `spec.createdAt`: its targets are the named agents and, at that instant,
   * the groups' members, each agent once. With `idempotency` (scoped to the operator's sub),
   * atomically as enqueue: the same key and fingerprint answer the job it made, another
   * fingerprint `mismatch`.
   */
  create(spec: JobSpec, idempotency?: IdempotentRequest, admission?: Admission): Promise<CreateJobOutcome>;
  /** The job at `now`, or undefined (none, or past its retention). */
  get(jobId: string, now: number, admission?: Admission): Promise<JobSnapshot | undefined>;
  /** Jobs newest first, of the statuses asked for at `now`. */
  list(query: JobListQuery, now: number, admission?: Admission): Promise<JobListPage>;
  /** A page of the job's targets in target order with their execution's state at `now`; undefined: no such job. */
  executions(jobId: string, query: ExecutionQuery, now: number, admission?: Admission): Promise<ExecutionPage | undefined>;
  /** An operator's cancel (rules cancelJob). */
  cancel(jobId: string, cancellation: JobCancellation, admission?: Admission): Promise<CancelJobOutcome>;
}

/** The agent is over its rate limit: its window frees up `retryAfterMs` after the admission's `now`. */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  readonly subject: string;
  readonly retryAfterMs: number;
  constructor(subject: string, reset: number, now: number) {
    super('over the rate limit');
    this.subject = subject;
    this.retryAfterMs = reset - now;
  }
}

/** Raised by a store when its backend cannot answer; the edge turns it into a 503. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
