/**
 * Parity: random histories of store operations run against (a) a small reference model built on
 * the pure rules (lib/commands/lifecycle.ts, lib/auth/revocation.ts), (b) the in-memory stores,
 * (c) the Upstash stores through the local bridge on a real Redis (the Lua scripts). Every answer
 * of every operation must be the same in all three. This is what keeps them in step.
 *
 * Times. Command times are the caller's: each history starts a minute ahead of the wall clock and
 * only moves forward, so a Redis TTL (an absolute time built from them) never ends during a run
 * before the model says the command is gone. Revocation entries expire on Redis's own clock, so
 * their ends are either well past or well ahead of the wall clock (or beyond what Redis can expire).
 *
 * One relaxation: `get` takes no time, so a command that is past retention may still be read
 * until the store meets it (memory: at the next fetch or complete; Redis: when its TTL ends on
 * Redis's clock). For such a command any store may answer undefined or its last state; for every
 * other command the answer must be exact.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from '@upstash/redis';
import { isLive, isRevoked, type RevocationMode, raisedCutoff, type TokenIdentity } from '../../lib/auth/revocation.ts';
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
} from '../../lib/commands/lifecycle.ts';
import type {
  Cancellation,
  CommandRecord,
  CommandStatus,
  EnqueueOutcome,
  IdempotentRequest,
  ListPage,
  ListQuery,
  NewCommand,
  Outcome,
  Report,
} from '../../lib/commands/model.ts';
import { MemoryCommandStore, MemoryRevocationStore } from '../../lib/store/memory.ts';
import type { CommandStore, RevocationStore } from '../../lib/store/types.ts';
import { storeViews } from '../../lib/store/admission.ts';
import { createRedisClient, upstashBackend } from '../../lib/store/upstash.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { redisTarget } from '../helpers/targets.ts';

/** PROPERTIES_FACTOR=20 multiplies the number of histories, for a deeper search. */
const FACTOR = Number(process.env.PROPERTIES_FACTOR || 1);
const RUNS = Math.max(1, Math.round(120 * FACTOR));

const RETENTION_MS = 10_000;
const AGENTS = ['x', 'x:y', 'x%3Ay'] as const;
const SUBJECTS = ['x', 'x:y', 'x%3Ay', 's'] as const;
const JTIS = ['j1', 'j:2', 'j%3A2', '8c1f0b7e-5a0e-4a8e-9f1e-0d6c2b1e7a11'] as const;
const RESULTS = [undefined, '1', '"1"', '{"exit":0}', '{"exit":1}'] as const;
const DETAILS = [undefined, '{"step":"1"}', '{"step":"2","of":"3"}'] as const;
const OPERATORS = ['op', 'op:x'] as const;
const IDEMPOTENCY_KEYS = ['k', 'k:1'] as const;
const FINGERPRINTS = ['f1', 'f2'] as const;
const STATUS_SETS: readonly (readonly CommandStatus[] | undefined)[] = [
  undefined,
  ['pending', 'delivered', 'in_progress'],
  ['completed', 'failed', 'rejected'],
  ['canceled', 'timed_out', 'expired'],
  ['in_progress'],
];

const wallSeconds = () => Math.floor(Date.now() / 1000);

// --- The operations ----------------------------------------------------------------------------

/** Ends of a revocation entry, relative to the wall clock (s); NaN and 1e16: kept for good. */
type End = 'past' | 'ahead' | 'beyondRedis' | 'nan';
const endOf = (end: End, nowS: number) =>
  end === 'past' ? nowS - 5 : end === 'ahead' ? nowS + 3600 : end === 'beyondRedis' ? 1e16 : Number.NaN;

type Op =
  | {
      kind: 'enqueue';
      agent: number;
      ttlMs: number;
      colon: boolean;
      timeoutMs: number | undefined;
      idempotency: { sub: number; key: number; fingerprint: number } | undefined;
    }
  | { kind: 'fetch'; agent: number; limit: number }
  | { kind: 'complete'; pick: number; otherAgent: number | undefined; status: 'completed' | 'failed' | 'rejected'; result: number }
  | { kind: 'progress'; pick: number; otherAgent: number | undefined; details: number; stepMs: number | undefined }
  | { kind: 'cancel'; pick: number; otherAgent: number | undefined; reason: string | undefined }
  | { kind: 'list'; agent: number; statuses: number; limit: number; cursor: 'start' | 'last' | number; budget: number | undefined }
  | { kind: 'get'; pick: number; otherAgent: number | undefined }
  | { kind: 'advance'; ms: number }
  | { kind: 'revokeToken'; jti: number; end: End }
  | { kind: 'registerToken'; jti: number; end: End }
  | { kind: 'revokeSubject'; sub: number; offset: number }
  | { kind: 'isRevoked'; jti: number | undefined; sub: number; iatOffset: number | undefined };

const index = (list: readonly unknown[]) => fc.nat({ max: list.length - 1 });
/** Undefined one time in six. */
const mostly = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 6 });
/** Defined one time in six. */
const rarely = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
/** Mostly the first agent, so that one agent's queue sees long histories. */
const agentIndex = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: index(AGENTS) });
/** Mostly the first two subjects, so that cut-offs meet each other and the tokens checked. */
const subIndex = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 1 }) }, { weight: 1, arbitrary: index(SUBJECTS) });
/** Mostly steps within a command's life, sometimes past its retention. */
const step = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(1, 999, 1_000, 4_000) },
  { weight: 1, arbitrary: fc.constantFrom(RETENTION_MS - 1, RETENTION_MS, RETENTION_MS + 1, 3 * RETENTION_MS) },
);
/** An index into RESULTS, mostly one of the first two, so that the same result comes again. */
const resultIndex = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 1 }) }, { weight: 1, arbitrary: index(RESULTS) });
const offset = fc.constantFrom(-20, -1, -0.5, 0, 0.5, 1, 20);
const end = fc.constantFrom<End>('past', 'ahead', 'ahead', 'beyondRedis', 'nan');

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('enqueue'),
      agent: agentIndex,
      ttlMs: fc.constantFrom(1, 1_000, 5_000, 60_000),
      colon: fc.boolean(),
      timeoutMs: rarely(fc.constantFrom(1_000, 2_000, 120_000)),
      idempotency: rarely(fc.record({ sub: index(OPERATORS), key: index(IDEMPOTENCY_KEYS), fingerprint: index(FINGERPRINTS) })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('progress'),
      pick: fc.nat(),
      otherAgent: rarely(index(AGENTS)),
      details: index(DETAILS),
      stepMs: mostly(fc.constantFrom(1_000, 3_000, 60_000)).map((ms) => ms),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('cancel'),
      pick: fc.nat(),
      otherAgent: rarely(index(AGENTS)),
      reason: fc.constantFrom(undefined, 'no longer needed', ''),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('list'),
      agent: agentIndex,
      statuses: index(STATUS_SETS),
      limit: fc.integer({ min: 1, max: 3 }),
      cursor: fc.oneof(fc.constantFrom<'start' | 'last'>('start', 'last', 'last'), fc.integer({ min: 1, max: 8 })),
      // A page's budget of log entries: the default (PAGE_BUDGET), or so few that pages stop on it.
      budget: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('fetch'), agent: agentIndex, limit: fc.nat({ max: 4 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('complete'),
      pick: fc.nat(),
      otherAgent: rarely(index(AGENTS)),
      status: fc.constantFrom('completed', 'completed', 'completed', 'failed', 'rejected'),
      result: resultIndex,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('get'), pick: fc.nat(), otherAgent: rarely(index(AGENTS)) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance'),
      ms: step,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('revokeToken'), jti: index(JTIS), end }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('registerToken'), jti: index(JTIS), end }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('revokeSubject'), sub: subIndex, offset }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('isRevoked'),
      jti: mostly(index(JTIS)),
      sub: subIndex,
      iatOffset: mostly(offset),
    }),
  },
);

// --- The reference model: the pure rules over the plainest possible state ----------------------

/** Every command ever enqueued, in enqueue order with its sequence; visibility and states are computed from time. */
class ModelCommands {
  private readonly log: { seq: number; record: CommandRecord }[] = [];
  private readonly keys = new Map<string, IdempotencyEntry>();

  enqueue(command: NewCommand, request: IdempotentRequest | undefined): EnqueueOutcome {
    if (request !== undefined) {
      const key = JSON.stringify([request.sub, command.agentId, request.key]);
      const entry = this.keys.get(key);
      const existing = entry === undefined ? undefined : this.get(command.agentId, entry.commandId, command.createdAt);
      const live = existing !== undefined && existing.record !== undefined && !existing.gone;
      const decision = idempotency(entry, request.fingerprint, command.createdAt, live);
      if (decision === 'mismatch') return { outcome: 'mismatch' };
      if (decision === 'replay') return { outcome: 'replayed', record: existing?.record as CommandRecord };
      const until = idempotentUntil(command.createdAt, RETENTION_MS);
      this.keys.set(key, { fingerprint: request.fingerprint, commandId: command.commandId, until });
    }
    this.log.push({ seq: this.log.filter(({ record }) => record.agentId === command.agentId).length + 1, record: created(command) });
    return { outcome: 'created', record: created(command) };
  }

  /** The first `limit` deliverable commands of the agent, in enqueue order, each counted delivered. */
  fetch(agentId: string, limit: number, now: number): CommandRecord[] {
    if (limit < 1) return [];
    const picked = this.log
      .map((entry, at) => ({ record: entry.record, at }))
      .filter(({ record }) => record.agentId === agentId && !isGone(record, now, RETENTION_MS) && isDeliverable(record, now))
      .slice(0, limit);
    for (const { record, at } of picked) (this.log[at] as Sequenced & { record: CommandRecord }).record = delivered(record, now);
    return picked.map(({ at }) => this.log[at]?.record as CommandRecord);
  }

  complete(agentId: string, commandId: string, report: Report): Outcome {
    return this.apply(agentId, commandId, (record) => applyReport(record, report, RETENTION_MS)).outcome;
  }

  cancel(agentId: string, commandId: string, cancellation: Cancellation): Transition {
    return this.apply(agentId, commandId, (record) => cancel(record, cancellation, RETENTION_MS));
  }

  list(agentId: string, query: ListQuery, now: number): ListPage {
    return listPage(
      this.log.filter(({ record }) => record.agentId === agentId),
      query,
      now,
      RETENTION_MS,
    );
  }

  /** The command, and whether it is gone at `now` (then a store may have dropped it already). */
  get(agentId: string, commandId: string, now: number): { record: CommandRecord | undefined; gone: boolean } {
    const record = this.find(agentId, commandId)?.record;
    return { record, gone: record !== undefined && isGone(record, now, RETENTION_MS) };
  }

  private apply(agentId: string, commandId: string, transition: (record: CommandRecord | undefined) => Transition): Transition {
    const entry = this.find(agentId, commandId);
    const result = transition(entry?.record);
    if (entry !== undefined && result.record !== undefined) entry.record = result.record;
    return result;
  }

  private find(agentId: string, commandId: string) {
    return this.log.find(({ record }) => record.agentId === agentId && record.commandId === commandId);
  }
}

class ModelRevocations {
  private readonly revoked = new Map<string, number>();
  private readonly registered = new Map<string, number>();
  private readonly cutoffs = new Map<string, number>();
  private readonly mode: RevocationMode;
  constructor(mode: RevocationMode) {
    this.mode = mode;
  }

  revokeToken(jti: string, until: number): void {
    this.revoked.set(jti, until);
  }
  registerToken(jti: string, until: number): void {
    this.registered.set(jti, until);
  }
  revokeSubject(sub: string, cutoff: number): void {
    this.cutoffs.set(sub, raisedCutoff(this.cutoffs.get(sub), cutoff));
  }
  isRevoked(token: TokenIdentity, nowS: number): boolean {
    const live = (entries: Map<string, number>) => {
      const until = token.jti === undefined ? undefined : entries.get(token.jti);
      return until !== undefined && isLive(until, nowS);
    };
    return isRevoked(token, this.mode, {
      jtiRevoked: live(this.revoked),
      registered: live(this.registered),
      subjectCutoff: this.cutoffs.get(token.sub),
    });
  }
}

// --- Running one history -----------------------------------------------------------------------

interface Subject {
  readonly name: string;
  readonly commands: CommandStore;
  readonly revocations: RevocationStore;
}

/** Runs the history on the model and every subject, comparing after each step; throws on the first difference. */
async function runHistory(ops: readonly Op[], mode: RevocationMode, subjects: readonly Subject[]): Promise<void> {
  const commands = new ModelCommands();
  const revocations = new ModelRevocations(mode);
  const enqueued: { agentId: string; commandId: string }[] = [];
  /** The last next cursor each agent's list gave. */
  const cursors = new Map<string, number>();
  const baseS = wallSeconds();
  let now = Date.now() + 60_000;

  for (const [step, op] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(op)}`;
    /** Every subject answers; each answer must be what `expected` accepts. */
    const each = async <T>(act: (subject: Subject) => Promise<T>, check: (answer: T) => void) => {
      for (const subject of subjects) {
        const answer = await act(subject);
        try {
          check(answer);
        } catch (error) {
          throw new Error(`${subject.name} differs from the model at ${where} (mode ${mode})`, { cause: error });
        }
      }
    };
    const target = (pick: number, otherAgent: number | undefined) => {
      // One time in eight (and while nothing is enqueued) a command id that was never enqueued.
      const chosen = enqueued.length === 0 || pick % 8 === 0 ? undefined : enqueued[Math.floor(pick / 8) % enqueued.length];
      const agentId = otherAgent === undefined ? (chosen?.agentId ?? AGENTS[0]) : (AGENTS[otherAgent] as string);
      return { agentId, commandId: chosen?.commandId ?? 'never-enqueued' };
    };

    switch (op.kind) {
      case 'enqueue': {
        const agentId = AGENTS[op.agent] as string;
        const command: NewCommand = {
          commandId: `${op.colon ? 'y:' : ''}k${step}`,
          agentId,
          command: 'run',
          args: { step, list: [1, 'two'] },
          createdAt: now,
          expiresAt: now + op.ttlMs,
          ...(op.timeoutMs === undefined ? {} : { timeoutMs: op.timeoutMs }),
        };
        const request =
          op.idempotency === undefined
            ? undefined
            : {
                sub: OPERATORS[op.idempotency.sub] as string,
                key: IDEMPOTENCY_KEYS[op.idempotency.key] as string,
                fingerprint: FINGERPRINTS[op.idempotency.fingerprint] as string,
              };
        const expected = commands.enqueue(command, request);
        if (expected.outcome === 'created') enqueued.push(command);
        await each(
          (s) => s.commands.enqueue(command, request),
          (answer) => expect(answer).toStrictEqual(expected),
        );
        break;
      }
      case 'fetch': {
        const agentId = AGENTS[op.agent] as string;
        const expected = commands.fetch(agentId, op.limit, now);
        await each(
          (s) => s.commands.fetch(agentId, op.limit, now),
          (answer) => expect(answer).toStrictEqual(expected),
        );
        break;
      }
      case 'complete': {
        const { agentId, commandId } = target(op.pick, op.otherAgent);
        const submission: Report = { status: op.status, resultJson: RESULTS[op.result], completedAt: now };
        const expected = commands.complete(agentId, commandId, submission);
        await each(
          (s) => s.commands.complete(agentId, commandId, submission),
          (answer) => expect(answer).toStrictEqual(expected),
        );
        break;
      }
      case 'progress': {
        const { agentId, commandId } = target(op.pick, op.otherAgent);
        const update: Report = { status: 'in_progress', statusDetailsJson: DETAILS[op.details], timeoutMs: op.stepMs, at: now };
        const expected = commands.complete(agentId, commandId, update);
        await each(
          (s) => s.commands.complete(agentId, commandId, update),
          (answer) => expect(answer).toStrictEqual(expected),
        );
        break;
      }
      case 'cancel': {
        const { agentId, commandId } = target(op.pick, op.otherAgent);
        const cancellation = { reason: op.reason, at: now };
        const expected = commands.cancel(agentId, commandId, cancellation);
        await each(
          (s) => s.commands.cancel(agentId, commandId, cancellation),
          (answer) => expect(answer).toStrictEqual(expected),
        );
        break;
      }
      case 'list': {
        const agentId = AGENTS[op.agent] as string;
        const after = op.cursor === 'start' ? 0 : op.cursor === 'last' ? (cursors.get(agentId) ?? 0) : op.cursor;
        const query: ListQuery = { statuses: STATUS_SETS[op.statuses], limit: op.limit, after, budget: op.budget };
        const expected = commands.list(agentId, query, now);
        cursors.set(agentId, expected.nextAfter ?? 0);
        await each(
          (s) => s.commands.list(agentId, query, now),
          (answer) => expect(answer).toStrictEqual(expected),
        );
        break;
      }
      case 'get': {
        const { agentId, commandId } = target(op.pick, op.otherAgent);
        const { record, gone } = commands.get(agentId, commandId, now);
        await each(
          (s) => s.commands.get(agentId, commandId),
          (answer) => {
            if (gone && answer === undefined) return;
            expect(answer).toStrictEqual(record);
          },
        );
        // The histories the stores kept (lib/commands/history.ts) are the same, entry for entry.
        const histories = [];
        for (const subject of subjects) histories.push((await subject.commands.getDetail(agentId, commandId))?.history);
        if (!gone) for (const history of histories.slice(1)) expect(history, `the histories at ${where}`).toStrictEqual(histories[0]);
        break;
      }
      case 'advance':
        now += op.ms;
        break;
      case 'revokeToken': {
        const jti = JTIS[op.jti] as string;
        const until = endOf(op.end, wallSeconds());
        revocations.revokeToken(jti, until);
        await each(
          (s) => s.revocations.revokeToken(jti, until),
          () => {},
        );
        break;
      }
      case 'registerToken': {
        const jti = JTIS[op.jti] as string;
        const until = endOf(op.end, wallSeconds());
        revocations.registerToken(jti, until);
        await each(
          (s) => s.revocations.registerToken(jti, until),
          () => {},
        );
        break;
      }
      case 'revokeSubject': {
        const sub = SUBJECTS[op.sub] as string;
        revocations.revokeSubject(sub, baseS + op.offset);
        await each(
          (s) => s.revocations.revokeSubject(sub, baseS + op.offset),
          () => {},
        );
        break;
      }
      case 'isRevoked': {
        const token: TokenIdentity = {
          jti: op.jti === undefined ? undefined : JTIS[op.jti],
          sub: SUBJECTS[op.sub] as string,
          iat: op.iatOffset === undefined ? undefined : baseS + op.iatOffset,
          exp: baseS + 300,
        };
        const expected = revocations.isRevoked(token, wallSeconds());
        await each(
          (s) => s.revocations.isRevoked(token),
          (answer) => expect(answer).toBe(expected),
        );
        break;
      }
    }
  }
}

const modeArb = fc.constantFrom<RevocationMode>('denylist', 'allowlist');
const historyArb = fc.array(opArb, { minLength: 1, maxLength: 40, size: 'medium' });

const memorySubject = (mode: RevocationMode): Subject => ({
  name: 'memory',
  commands: new MemoryCommandStore({ resultRetentionSeconds: RETENTION_MS / 1000 }),
  revocations: new MemoryRevocationStore(wallSeconds, { revocationMode: mode }),
});

describe('parity of the pure rules and the in-memory store', () => {
  it('gives the same answer to every operation of random histories, in both revocation modes', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, modeArb, (ops, mode) => runHistory(ops, mode, [memorySubject(mode)])),
      { numRuns: RUNS * 2 },
    );
  });
});

describe.skipIf(!HAS_REDIS)('parity of the pure rules, the in-memory store and the Lua on a real Redis', () => {
  const fixture = redisTarget('parity');
  let redis: Redis;
  let history = 0;
  beforeAll(() => {
    redis = createRedisClient({ upstashUrl: fixture.bridge.url, upstashToken: fixture.bridge.token, redisTimeoutMs: 5_000 });
  });

  /** Fresh stores under a prefix of their own for each history (all deleted by the fixture afterwards). */
  const upstashSubject = (mode: RevocationMode): Subject => {
    history += 1;
    const redisKeyPrefix = `${fixture.prefix}${history}:`;
    const backend = upstashBackend(redis, { redisKeyPrefix, resultRetentionSeconds: RETENTION_MS / 1000, revocationMode: mode });
    const { commands, revocations } = storeViews(backend).unchecked;
    return { name: 'upstash', commands, revocations };
  };

  it('gives the same answer to every operation of random histories, in both revocation modes', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, modeArb, (ops, mode) => runHistory(ops, mode, [memorySubject(mode), upstashSubject(mode)])),
      { numRuns: RUNS },
    );
  });
});
