/**
 * The embedded default: everything in this process's memory. Each method runs to completion
 * without awaiting in between, so every change is atomic on Node's single thread, the admission
 * (revocation decision and rate limit) with it. Storage only: every rule is a call into
 * lib/commands/lifecycle.ts, lib/auth/revocation.ts, lib/store/ratelimit.ts or
 * lib/groups/membership.ts.
 */
import { TokenError } from '../auth/errors.ts';
import { isLive, isRevoked, type RevocationMode, raisedCutoff, type TokenIdentity } from '../auth/revocation.ts';
import {
  applyReport,
  cancel,
  created,
  delivered,
  type IdempotencyEntry,
  idempotency,
  idempotentUntil,
  isDeliverable,
  isGone,
  listPage,
  type Sequenced,
  type Transition,
} from '../commands/lifecycle.ts';
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
import {
  type JoinOutcome,
  joinOutcome,
  type LeaveOutcome,
  leaveOutcome,
  type MemberPage,
  memberPage,
  nextPosition,
  sortedGroups,
} from '../groups/membership.ts';
import { MemoryRateLimiter, type RateLimitSettings } from './ratelimit.ts';
import { type Admission, type CommandStore, type GroupStore, RateLimitedError, type RevocationStore } from './types.ts';

/** What the command store asks of the revocation store: the admission, decided synchronously. */
export interface Gatekeeper {
  /** Throws TokenError('token_revoked') or RateLimitedError; counts the request otherwise. */
  admitNow(admission: Admission): void;
}

/** A store made without a revocation store refuses every admission rather than skip it. */
const NO_GATE: Gatekeeper = {
  admitNow() {
    throw new Error('this in-memory store was made without a revocation store to admit requests with');
  },
};

interface Queue {
  /** Every command still kept, in enqueue order, with its sequence. */
  readonly entries: Map<string, { seq: number; record: CommandRecord }>;
  /** The last sequence given out (never reused). */
  last: number;
}

export class MemoryCommandStore implements CommandStore {
  /** Commands per agent, in enqueue order. Finished ones stay readable until retention ends. */
  private readonly queues = new Map<string, Queue>();
  private readonly configs = new Map<string, Record<string, unknown>>();
  /** Idempotency keys by (sub, agent, key). */
  private readonly idempotency = new Map<string, IdempotencyEntry>();
  private readonly retentionMs: number;

  private readonly gate: Gatekeeper;

  /** `gate`: the revocation store whose state admits requests (the runtime passes its own). */
  constructor(options: { resultRetentionSeconds: number }, gate: Gatekeeper = NO_GATE) {
    this.retentionMs = options.resultRetentionSeconds * 1000;
    this.gate = gate;
  }

  private admit(admission: Admission | undefined): void {
    if (admission !== undefined) this.gate.admitNow(admission);
  }

  async enqueue(command: NewCommand, request?: IdempotentRequest, admission?: Admission): Promise<EnqueueOutcome> {
    this.admit(admission);
    let queue = this.queues.get(command.agentId);
    if (!queue) {
      queue = { entries: new Map(), last: 0 };
      this.queues.set(command.agentId, queue);
    }
    const key = request && JSON.stringify([request.sub, command.agentId, request.key]);
    if (request && key) {
      const entry = this.idempotency.get(key);
      const existing = entry && queue.entries.get(entry.commandId)?.record;
      const live = existing !== undefined && !isGone(existing, command.createdAt, this.retentionMs);
      switch (idempotency(entry, request.fingerprint, command.createdAt, live)) {
        case 'mismatch':
          return { outcome: 'mismatch' };
        case 'replay':
          return { outcome: 'replayed', record: copy(existing as CommandRecord) };
        case 'create':
          this.idempotency.set(key, {
            fingerprint: request.fingerprint,
            commandId: command.commandId,
            until: idempotentUntil(command.createdAt, this.retentionMs),
          });
      }
    }
    queue.last += 1;
    const record = created({ ...command, args: deepFreeze(structuredClone(command.args)) });
    queue.entries.set(command.commandId, { seq: queue.last, record });
    return { outcome: 'created', record: copy(record) };
  }

  async fetch(agentId: string, limit: number, now: number, admission?: Admission): Promise<CommandRecord[]> {
    this.admit(admission);
    const queue = this.queues.get(agentId);
    if (!queue || limit < 1) return [];
    const out: CommandRecord[] = [];
    for (const [id, entry] of queue.entries) {
      if (isGone(entry.record, now, this.retentionMs)) {
        queue.entries.delete(id);
        continue;
      }
      if (!isDeliverable(entry.record, now)) continue;
      entry.record = delivered(entry.record, now); // same key: keeps its place in the queue
      out.push(copy(entry.record));
      if (out.length >= limit) break;
    }
    return out;
  }

  async complete(agentId: string, commandId: string, report: Report, admission?: Admission): Promise<Outcome> {
    this.admit(admission);
    return this.apply(agentId, commandId, (record) => applyReport(record, report, this.retentionMs)).outcome;
  }

  async cancel(agentId: string, commandId: string, cancellation: Cancellation, admission?: Admission): Promise<Transition> {
    this.admit(admission);
    const { outcome, record } = this.apply(agentId, commandId, (found) => cancel(found, cancellation, this.retentionMs));
    return { outcome, record: record && copy(record) };
  }

  async get(agentId: string, commandId: string, admission?: Admission): Promise<CommandRecord | undefined> {
    this.admit(admission);
    const entry = this.queues.get(agentId)?.entries.get(commandId);
    return entry ? copy(entry.record) : undefined;
  }

  async list(agentId: string, query: ListQuery, now: number, admission?: Admission): Promise<ListPage> {
    this.admit(admission);
    const queue = this.queues.get(agentId);
    if (!queue) return { records: [], nextAfter: undefined };
    const entries: Sequenced[] = [];
    for (const [id, entry] of queue.entries) {
      if (isGone(entry.record, now, this.retentionMs)) queue.entries.delete(id);
      else entries.push(entry);
    }
    const page = listPage(entries, query, now, this.retentionMs);
    return { records: page.records.map(copy), nextAfter: page.nextAfter };
  }

  async getConfig(agentId: string, admission?: Admission): Promise<Record<string, unknown> | undefined> {
    this.admit(admission);
    const config = this.configs.get(agentId);
    return config ? structuredClone(config) : undefined;
  }

  async putConfig(agentId: string, overrides: Record<string, unknown>, admission?: Admission): Promise<void> {
    this.admit(admission);
    this.configs.set(agentId, structuredClone(overrides));
  }

  /** Runs a transition on one command; a gone record is dropped when met, as the Lua does. */
  private apply(agentId: string, commandId: string, transition: (record: CommandRecord | undefined) => Transition): Transition {
    const entries = this.queues.get(agentId)?.entries;
    const entry = entries?.get(commandId);
    const result = transition(entry?.record);
    if (entry && result.record === undefined) entries?.delete(commandId);
    else if (entry && result.record) entry.record = result.record;
    return result;
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

export class MemoryRevocationStore implements RevocationStore, Gatekeeper {
  /** Denylisted jti → until when (epoch s). */
  private readonly revoked = new Map<string, number>();
  /** Allowlist registrations: jti → until when (epoch s). */
  private readonly registered = new Map<string, number>();
  /** Subject → cut-off (epoch s). */
  private readonly cutoffs = new Map<string, number>();
  private readonly nowSeconds: () => number;
  private readonly mode: RevocationMode;
  private readonly limiter: MemoryRateLimiter | undefined;

  constructor(nowSeconds: () => number, options: { revocationMode?: RevocationMode; rateLimit?: RateLimitSettings | undefined } = {}) {
    this.nowSeconds = nowSeconds;
    this.mode = options.revocationMode ?? 'denylist';
    this.limiter = options.rateLimit === undefined ? undefined : new MemoryRateLimiter(options.rateLimit);
  }

  async isRevoked(token: TokenIdentity): Promise<boolean> {
    return this.revokedNow(token);
  }

  /** The gate, as the Lua preamble: the revocation decision first, then the rate limit, counted only when admitted. */
  admitNow(admission: Admission): void {
    const { token } = admission;
    if (this.revokedNow(token)) throw new TokenError('token_revoked', undefined, undefined, token.sub);
    if (this.limiter === undefined) return;
    const decision = this.limiter.limit(token.sub, admission.now);
    if (!decision.allowed) throw new RateLimitedError(token.sub, decision.reset, admission.now);
  }

  async admit(admission: Admission): Promise<void> {
    this.admitNow(admission);
  }

  private revokedNow(token: TokenIdentity): boolean {
    const now = this.nowSeconds();
    return isRevoked(token, this.mode, {
      jtiRevoked: token.jti !== undefined && this.live(this.revoked, token.jti, now),
      subjectCutoff: this.cutoffs.get(token.sub),
      registered: token.jti !== undefined && this.live(this.registered, token.jti, now),
    });
  }

  async revokeToken(jti: string, expiresAt: number, admission?: Admission): Promise<void> {
    if (admission !== undefined) this.admitNow(admission);
    this.revoked.set(jti, expiresAt);
  }

  async revokeSubject(sub: string, cutoff: number, admission?: Admission): Promise<void> {
    if (admission !== undefined) this.admitNow(admission);
    this.cutoffs.set(sub, raisedCutoff(this.cutoffs.get(sub), cutoff));
  }

  async registerToken(jti: string, expiresAt: number): Promise<void> {
    this.registered.set(jti, expiresAt);
  }

  /** Whether the entry for `jti` is live; a lapsed one is dropped (as its Redis key expires). */
  private live(entries: Map<string, number>, jti: string, now: number): boolean {
    const until = entries.get(jti);
    if (until === undefined) return false;
    if (isLive(until, now)) return true;
    entries.delete(jti);
    return false;
  }
}

interface MemoryGroup {
  /** The last join position given; kept when the group empties, as Redis keeps its counter. */
  last: number;
  readonly positions: Map<string, number>;
  /** The members in position order (positions only grow, so a join appends). */
  readonly order: { readonly agentId: string; readonly position: number }[];
}

export class MemoryGroupStore implements GroupStore {
  private readonly groups = new Map<string, MemoryGroup>();
  /** Agent id → the groups it is in. */
  private readonly agents = new Map<string, Set<string>>();
  private readonly gate: Gatekeeper;

  /** `gate`: the revocation store whose state admits requests (the runtime passes its own). */
  constructor(gate: Gatekeeper = NO_GATE) {
    this.gate = gate;
  }

  private admit(admission: Admission | undefined): void {
    if (admission !== undefined) this.gate.admitNow(admission);
  }

  async join(group: string, agentId: string, admission?: Admission): Promise<JoinOutcome> {
    this.admit(admission);
    const entry = this.groups.get(group);
    const outcome = joinOutcome(entry?.positions.has(agentId) ?? false, this.agents.get(agentId)?.size ?? 0);
    if (outcome !== 'added') return outcome;
    const target: MemoryGroup = entry ?? { last: 0, positions: new Map(), order: [] };
    this.groups.set(group, target);
    const position = nextPosition(target.last);
    target.last = position;
    target.positions.set(agentId, position);
    target.order.push({ agentId, position });
    const mine = this.agents.get(agentId) ?? new Set<string>();
    mine.add(group);
    this.agents.set(agentId, mine);
    return outcome;
  }

  async leave(group: string, agentId: string, admission?: Admission): Promise<LeaveOutcome> {
    this.admit(admission);
    const entry = this.groups.get(group);
    const position = entry?.positions.get(agentId);
    const outcome = leaveOutcome(position !== undefined);
    if (entry === undefined || position === undefined) return outcome;
    entry.positions.delete(agentId);
    entry.order.splice(firstAfter(entry.order, position - 1), 1);
    const mine = this.agents.get(agentId);
    mine?.delete(group);
    if (mine?.size === 0) this.agents.delete(agentId);
    return outcome;
  }

  async members(group: string, after: number, limit: number, admission?: Admission): Promise<MemberPage> {
    this.admit(admission);
    const order = this.groups.get(group)?.order ?? [];
    const start = firstAfter(order, after);
    return memberPage(order.slice(start, start + limit + 1), limit);
  }

  async groupsOf(agentId: string, admission?: Admission): Promise<string[]> {
    this.admit(admission);
    return sortedGroups(this.agents.get(agentId) ?? []);
  }
}

/** The index of the first entry whose position is greater than `after` (binary search). */
function firstAfter(order: readonly { readonly position: number }[], after: number): number {
  let low = 0;
  let high = order.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((order[middle] as { position: number }).position <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}
