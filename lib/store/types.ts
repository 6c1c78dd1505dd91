/**
 * The narrow storage interfaces the handlers depend on. Two backends: in-memory (the embedded
 * default, lib/store/memory.ts) and Upstash Redis (lib/store/upstash.ts). Every multi-step change
 * is atomic in each.
 *
 * The admission is a capability, not an argument. The stores are reached through `Stores`, in one
 * of two views, and which view a caller holds decides whether the gate runs:
 *
 * - `stores.admitted(admission)`: what a request gets (the auth middleware makes it, once per
 *   request, and puts it on the handler's context). Every call first decides the token's
 *   revocation (lib/auth/revocation.ts) and counts the agent's rate limit (lib/store/ratelimit.ts),
 *   in the same atomic step as its action: one script in Redis, so one Upstash command per
 *   request; one synchronous run in memory. A refused request reads and changes nothing: the call
 *   throws TokenError('token_revoked') or RateLimitedError. `admit()` is the gate alone, for a
 *   request whose handler touches no store (whoami, token-info).
 * - `stores.unchecked`: the same stores with no gate at all, for the few callers that act without
 *   a request's token: the operator CLI (dev/revoke.ts), benchmarks and tests setting up state,
 *   and the revocation reads and registrations (isRevoked, registerToken). No handler names it
 *   (test/handlers/admission.test.ts checks the source).
 *
 * The interfaces below carry no admission: a handler cannot forget it, because the only stores it
 * can reach are the admitted ones. A backend implements each method once, with the admission it
 * runs behind as its first argument (`Actions`, undefined for the unchecked view); the views of
 * lib/store/admission.ts bind it.
 */
import type { TokenIdentity } from '../auth/revocation.ts';
import type { HistoryEntry } from '../commands/history.ts';
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
import type { BulkOutcome, JoinOutcome, LeaveOutcome, MemberChanges, MemberPage } from '../groups/membership.ts';
import type {
  CancelJobOutcome,
  CreateJobOutcome,
  DryRunOutcome,
  ExecutionDetail,
  ExecutionPage,
  ExecutionQuery,
  JobCancellation,
  JobPauseChange,
  JobListPage,
  JobListQuery,
  JobSnapshot,
  JobSpec,
  JobTargets,
  PauseJobOutcome,
} from '../jobs/model.ts';
import type { ConnectionStore } from './connections.ts';

/** Who asks: the verified token, and the caller's clock for the rate limit (epoch ms). */
export interface Admission {
  readonly token: TokenIdentity;
  readonly now: number;
  /** The request's DPoP proof (RFC 9449), when its token is bound: the gate refuses a jti another request used. */
  readonly proof?: ProofAdmission;
}

/**
 * A DPoP proof as the gate sees it: `id` names its key and jti (proofId, lib/auth/dpop.ts),
 * `until` is how long it is remembered (epoch ms, proofKeepUntil), `request` the request's own
 * id: the gate writes it under `id`, and refuses the proof when `id` holds another request's
 * (proofReplayed), so the same request's store calls, and a client's retry of one, pass.
 */
export interface ProofAdmission {
  readonly id: string;
  readonly until: number;
  readonly request: string;
}

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
  /**
   * One command of one agent, or undefined (a command past retention may still be read until a
   * store meets it); with `now`, a job's execution is shown as time has left it (its timeout
   * retried: lib/jobs/rules.ts timeoutRetried).
   */
  get(agentId: string, commandId: string, now?: number): Promise<CommandRecord | undefined>;
  /** As get, with the command's kept history (lib/commands/history.ts), oldest first. */
  getDetail(
    agentId: string,
    commandId: string,
    now?: number,
  ): Promise<{ record: CommandRecord; history: readonly HistoryEntry[] } | undefined>;
  /** A page of the agent's commands still within retention at `now`, in enqueue order (lifecycle `listPage`). */
  list(agentId: string, query: ListQuery, now: number): Promise<ListPage>;
  /** The agent's config overrides, or undefined when it has none. */
  getConfig(agentId: string): Promise<Record<string, unknown> | undefined>;
  /** Replaces the agent's config overrides. */
  putConfig(agentId: string, overrides: Record<string, unknown>): Promise<void>;
  /**
   * After a fetch that handed out job executions with no signature (a poll makes them, the
   * function signs them): each execution of the agent still there takes its signature unless it
   * has one already or its attempt is no longer `attempt`; answers the signature each now holds
   * (by command id; an execution that is gone is left out, one left unsigned maps to undefined).
   * No gate in either view: it follows the same request's admitted fetch, touches only what that
   * fetch handed this agent, and counts no second request against the rate limit.
   */
  signExecutions(agentId: string, entries: readonly ExecutionSignature[]): Promise<ReadonlyMap<string, string | undefined>>;
}

/** A job execution's signature, for the attempt it was made for (undefined: an execution without attempts). */
export interface ExecutionSignature {
  readonly commandId: string;
  readonly attempt: number | undefined;
  readonly signature: string;
}

/** The revocations an operator's request writes (POST /api/revocations). Times are epoch seconds. */
export interface RevocationWrites {
  /** Revokes one token until `expiresAt` (epoch seconds), after which the entry goes by itself. */
  revokeToken(jti: string, expiresAt: number): Promise<void>;
  /** Revokes every token of `sub` issued at or before `cutoff` (epoch seconds). */
  revokeSubject(sub: string, cutoff: number): Promise<void>;
}

/**
 * Revocation state, as the unchecked view has it; the decision itself is lib/auth/revocation.ts,
 * with the store's REVOCATION_MODE.
 */
export interface RevocationStore extends RevocationWrites {
  /** One round trip: is this token revoked (or, in allowlist mode, not registered)? Counts nothing. */
  isRevoked(token: TokenIdentity): Promise<boolean>;
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
   * A join at the admission's `now` also makes the agent a target of the group's continuous jobs
   * in progress then.
   */
  join(group: string, agentId: string): Promise<JoinOutcome>;
  /**
   * Takes the agent out of the group; nothing changes when it is no member. Nothing it has is
   * canceled, and an execution of the group's jobs it is still to receive stays its own.
   */
  leave(group: string, agentId: string): Promise<LeaveOutcome>;
  /**
   * The leaves, then the joins, of many agents in one step, each as leave and join do it for one
   * (continuous jobs included); an agent at the group limit is refused, the others go on.
   */
  change(group: string, changes: MemberChanges): Promise<BulkOutcome>;
  /** Up to `limit` members in join order, after join position `after` (0: from the start). */
  members(group: string, after: number, limit: number): Promise<MemberPage>;
  /** The groups the agent is in, sorted (sortedGroups). */
  groupsOf(agentId: string): Promise<string[]>;
}

/** The group store of the unchecked view: with no admission, a join says its instant itself. */
export interface UncheckedGroupStore extends GroupStore {
  /** `now`: the join's instant, for the group's continuous jobs (default: the wall clock). */
  join(group: string, agentId: string, now?: number): Promise<JoinOutcome>;
  /** `now`: the joins' instant, as for join. */
  change(group: string, changes: MemberChanges, now?: number): Promise<BulkOutcome>;
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
  create(spec: JobSpec, idempotency?: IdempotentRequest): Promise<CreateJobOutcome>;
  /**
   * What a create of these targets would meet now, written nowhere (no job, no key, no count): the
   * targets counted as the create counts them, refused as it would refuse them (DryRunOutcome).
   */
  dryRun(targets: JobTargets, continuous: boolean): Promise<DryRunOutcome>;
  /** The job at `now`, or undefined (none, or past its retention). */
  get(jobId: string, now: number): Promise<JobSnapshot | undefined>;
  /** Jobs newest first, of the statuses asked for at `now`. */
  list(query: JobListQuery, now: number): Promise<JobListPage>;
  /** A page of the job's targets in target order with their execution's state at `now`; undefined: no such job. */
  executions(jobId: string, query: ExecutionQuery, now: number): Promise<ExecutionPage | undefined>;
  /** One target of the job at `now`, as `executions` shows it, with its execution's history. */
  execution(jobId: string, agentId: string, now: number): Promise<ExecutionDetail>;
  /** An operator's cancel (rules cancelJob). */
  cancel(jobId: string, cancellation: JobCancellation): Promise<CancelJobOutcome>;
  /** An operator's pause or resume (rules pauseJob): one write of the job, whatever its size. */
  pause(jobId: string, change: JobPauseChange): Promise<PauseJobOutcome>;
}

/** The stores as one request sees them: every call admits the request in the same step as its action. */
export interface AdmittedStores {
  readonly commands: CommandStore;
  readonly groups: GroupStore;
  readonly jobs: JobStore;
  readonly revocations: RevocationWrites;
  /** The push connection registry: registering behind this request's gate ($connect). */
  readonly connections: ConnectionStore;
  /** The admission alone (one round trip), for a request whose handler touches no store. */
  admit(): Promise<void>;
}

/** The stores with no gate: the operator CLI, benchmarks and tests setting up state. Never a handler. */
export interface UncheckedStores {
  readonly commands: CommandStore;
  readonly groups: UncheckedGroupStore;
  readonly jobs: JobStore;
  readonly revocations: RevocationStore;
  readonly connections: ConnectionStore;
}

/** The way in to one backend's stores (lib/store/admission.ts storeViews). */
export interface Stores {
  /** The stores behind the gate of this admission; made once per request, cheaply (no I/O, a few small objects). */
  admitted(admission: Admission): AdmittedStores;
  /** The same stores with no gate, made once. */
  readonly unchecked: UncheckedStores;
}

/**
 * What a backend implements for a store `S`: each method with the admission it runs behind as its
 * first argument, undefined when the caller holds the unchecked view. Only the views call these.
 */
export type Actions<S> = {
  readonly [K in keyof S]: S[K] extends (...args: infer A) => infer R ? (admission: Admission | undefined, ...args: A) => R : never;
};

/** A backend's revocation side: the writes behind the gate, the gate alone, and what needs no gate. */
export interface RevocationActions extends Actions<RevocationWrites> {
  /** The gate alone: throws TokenError('token_revoked') or RateLimitedError, counts the request otherwise. */
  admit(admission: Admission): Promise<void>;
  isRevoked(token: TokenIdentity): Promise<boolean>;
  registerToken(jti: string, expiresAt: number): Promise<void>;
}

/** One backend: the four stores over one state (a job's executions and targets live with the commands and groups). */
export interface StoreBackend {
  readonly commands: Actions<CommandStore>;
  readonly groups: Actions<UncheckedGroupStore>;
  readonly jobs: Actions<JobStore>;
  readonly revocations: RevocationActions;
  readonly connections: Actions<ConnectionStore>;
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
