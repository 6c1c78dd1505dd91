/**
 * Parity of groups, as test/stores/parity.test.ts does it for commands and revocations: random histories
 * of joins, leaves, pages and listings run against (a) a reference model built on the pure rules
 * (lib/groups/membership.ts) over the plainest state, (b) the in-memory store, (c) the Upstash
 * store through the local bridge on a real Redis (the GROUP_JOIN and GROUP_LEAVE scripts). Every
 * answer must be the same in all three.
 *
 * Histories use few agents and groups so that members meet, and a `fill` step that puts one
 * agent in many fresh groups at once, so that the 64-group limit is reached within a history.
 */
import type { Redis } from '@upstash/redis';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type JoinOutcome,
  joinOutcome,
  type LeaveOutcome,
  leaveOutcome,
  MAX_GROUPS_PER_AGENT,
  type MemberPage,
  memberPage,
  nextPosition,
  sortedGroups,
} from '../../lib/groups/membership.ts';
import { MemoryGroupStore } from '../../lib/store/memory.ts';
import type { GroupStore } from '../../lib/store/types.ts';
import { storeViews } from '../../lib/store/admission.ts';
import { createRedisClient, upstashBackend } from '../../lib/store/upstash.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { redisTarget } from '../helpers/targets.ts';

/** PROPERTIES_FACTOR=20 multiplies the number of histories, for a deeper search. */
const FACTOR = Number(process.env.PROPERTIES_FACTOR || 1);
const RUNS = Math.max(1, Math.round(60 * FACTOR));

const AGENTS = ['a', 'a:b', 'a%3Ab', 'fleet@eu.1'] as const;
const GROUPS = ['web', 'web:eu', 'web%3Aeu', 'canary'] as const;
const AFTERS = [0, 1, 2, 3, 5, 8, 1_000] as const;

type Op =
  | { kind: 'join'; group: number; agent: number }
  | { kind: 'leave'; group: number; agent: number }
  | { kind: 'fill'; agent: number; count: number }
  | { kind: 'bulk'; group: number; add: number; remove: number }
  | { kind: 'members'; group: number; after: number; limit: number }
  | { kind: 'groupsOf'; agent: number };

const index = (list: readonly unknown[]) => fc.nat({ max: list.length - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('join'), group: index(GROUPS), agent: index(AGENTS) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('leave'), group: index(GROUPS), agent: index(AGENTS) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('fill'),
      agent: index(AGENTS),
      count: fc.constantFrom(MAX_GROUPS_PER_AGENT - 4, MAX_GROUPS_PER_AGENT - 1, MAX_GROUPS_PER_AGENT),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('members'),
      group: index(GROUPS),
      after: index(AFTERS),
      limit: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('groupsOf'), agent: index(AGENTS) }) },
  // A bulk change: the agents of two disjoint bit masks, the removes and the adds.
  {
    weight: 2,
    arbitrary: fc
      .record({ kind: fc.constant('bulk'), group: index(GROUPS), add: fc.nat({ max: 15 }), remove: fc.nat({ max: 15 }) })
      .map((op) => ({ ...op, remove: op.remove & ~op.add })),
  },
);

const masked = (mask: number) => AGENTS.filter((_, i) => (mask & (1 << i)) !== 0);

/** The plainest state: per group, the last position given and the members with theirs, in join order. */
class ModelGroups {
  private readonly groups = new Map<string, { last: number; members: { agentId: string; position: number }[] }>();

  join(group: string, agentId: string): JoinOutcome {
    const entry = this.groups.get(group) ?? { last: 0, members: [] };
    const outcome = joinOutcome(
      entry.members.some((member) => member.agentId === agentId),
      this.groupsOf(agentId).length,
    );
    if (outcome === 'added') {
      entry.last = nextPosition(entry.last);
      entry.members.push({ agentId, position: entry.last });
      this.groups.set(group, entry);
    }
    return outcome;
  }

  leave(group: string, agentId: string): LeaveOutcome {
    const entry = this.groups.get(group);
    const outcome = leaveOutcome(entry?.members.some((member) => member.agentId === agentId) ?? false);
    if (entry && outcome === 'removed') entry.members = entry.members.filter((member) => member.agentId !== agentId);
    return outcome;
  }

  members(group: string, after: number, limit: number): MemberPage {
    const members = this.groups.get(group)?.members ?? [];
    return memberPage(members.filter((member) => member.position > after).slice(0, limit + 1), limit);
  }

  groupsOf(agentId: string): string[] {
    const mine = [...this.groups].filter(([, entry]) => entry.members.some((member) => member.agentId === agentId));
    return sortedGroups(mine.map(([group]) => group));
  }
}

interface Subject {
  readonly name: string;
  readonly groups: GroupStore;
}

async function runHistory(ops: readonly Op[], subjects: readonly Subject[]): Promise<void> {
  const model = new ModelGroups();
  for (const [step, op] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(op)}`;
    const each = async <T>(act: (groups: GroupStore) => Promise<T>, expected: T) => {
      for (const subject of subjects) {
        const answer = await act(subject.groups);
        try {
          expect(answer).toStrictEqual(expected);
        } catch (error) {
          throw new Error(`${subject.name} differs from the model at ${where}`, { cause: error });
        }
      }
    };
    switch (op.kind) {
      case 'join': {
        const [group, agentId] = [GROUPS[op.group] as string, AGENTS[op.agent] as string];
        await each((groups) => groups.join(group, agentId), model.join(group, agentId));
        break;
      }
      case 'leave': {
        const [group, agentId] = [GROUPS[op.group] as string, AGENTS[op.agent] as string];
        await each((groups) => groups.leave(group, agentId), model.leave(group, agentId));
        break;
      }
      case 'fill': {
        const agentId = AGENTS[op.agent] as string;
        for (let i = 0; i < op.count; i += 1) {
          const group = `fill-${step}-${i}`;
          await each((groups) => groups.join(group, agentId), model.join(group, agentId));
        }
        break;
      }
      case 'bulk': {
        // As the single leaves, then the single joins, of the model.
        const group = GROUPS[op.group] as string;
        const [add, remove] = [masked(op.add), masked(op.remove)];
        const expected = { added: 0, removed: 0, unchanged: 0, refused: [] as string[] };
        for (const agentId of remove) expected[model.leave(group, agentId) === 'removed' ? 'removed' : 'unchanged'] += 1;
        for (const agentId of add) {
          const outcome = model.join(group, agentId);
          if (outcome === 'too_many_groups') expected.refused.push(agentId);
          else expected[outcome === 'added' ? 'added' : 'unchanged'] += 1;
        }
        await each((groups) => groups.change(group, { add, remove }), expected);
        break;
      }
      case 'members': {
        const [group, after] = [GROUPS[op.group] as string, AFTERS[op.after] as number];
        await each((groups) => groups.members(group, after, op.limit), model.members(group, after, op.limit));
        break;
      }
      case 'groupsOf': {
        const agentId = AGENTS[op.agent] as string;
        await each((groups) => groups.groupsOf(agentId), model.groupsOf(agentId));
        break;
      }
    }
  }
}

const historyArb = fc.array(opArb, { minLength: 1, maxLength: 40, size: 'medium' });
const memorySubject = (): Subject => ({ name: 'memory', groups: new MemoryGroupStore() });

describe('group parity of the pure rules and the in-memory store', () => {
  it('gives the same answer to every operation of random histories', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, (ops) => runHistory(ops, [memorySubject()])),
      { numRuns: RUNS * 2 },
    );
  });
});

describe.skipIf(!HAS_REDIS)('group parity of the pure rules, the in-memory store and the Lua on a real Redis', () => {
  const fixture = redisTarget('group-parity');
  let redis: Redis;
  let history = 0;
  beforeAll(() => {
    redis = createRedisClient({ upstashUrl: fixture.bridge.url, upstashToken: fixture.bridge.token, redisTimeoutMs: 5_000 });
  });

  const upstashSubject = (): Subject => {
    history += 1;
    const backend = upstashBackend(redis, { redisKeyPrefix: `${fixture.prefix}${history}:`, resultRetentionSeconds: 60 });
    return { name: 'upstash', groups: storeViews(backend).unchecked.groups };
  };

  // Some 1,000 round trips a run: on a loaded 2-core machine more than the default 20 s.
  it('gives the same answer to every operation of random histories', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, (ops) => runHistory(ops, [memorySubject(), upstashSubject()])),
      // Fewer than in memory: a `fill` step is some 60 round trips.
      { numRuns: Math.max(1, Math.round(RUNS / 2)) },
    );
  });
});
