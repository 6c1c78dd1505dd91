/**
 * Groups on both stores: the group store contract and the group routes through their real
 * handlers, in memory and on a real Redis through the bridge; then what only Redis can show
 * (the keys a join writes, one request per call, races between instances) and a group of
 * 100,000 members walked page by page on both stores.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portableScript, type UpstashBridge } from '../dev/upstash-bridge.ts';
import { loadConfig } from '../lib/config.ts';
import { decodeCursor, encodeCursor, InvalidCursorError, joinOutcome, MAX_GROUPS_PER_AGENT, memberPage } from '../lib/groups/membership.ts';
import { MemoryGroupStore } from '../lib/store/memory.ts';
import { GROUP_JOIN, inputsOf } from '../lib/store/scripts.ts';
import { redisKeys } from '../lib/store/keys.ts';
import type { GroupStore } from '../lib/store/types.ts';
import { createUpstashStores } from '../lib/store/upstash.ts';
import { groupHandlerContract, groupStoreContract, walk } from './helpers/group-contract.ts';
import { HAS_REDIS, redisEnv, startBridge, type TcpClient } from './helpers/redis.ts';
import { memoryTarget, redisTarget } from './helpers/targets.ts';
import { TEST_ENV } from './helpers/tokens.ts';

const BIG = 100_000;
const members = (count: number) => Array.from({ length: count }, (_, i) => `agent-${String(i).padStart(6, '0')}`);

describe('the membership rules', () => {
  it('admit a join below the limit, refuse one at it, and leave a member where it is', () => {
    expect(joinOutcome(false, 0)).toBe('added');
    expect(joinOutcome(false, MAX_GROUPS_PER_AGENT - 1)).toBe('added');
    expect(joinOutcome(false, MAX_GROUPS_PER_AGENT)).toBe('too_many_groups');
    expect(joinOutcome(true, MAX_GROUPS_PER_AGENT)).toBe('unchanged');
  });

  it('cut a page at the limit and say where the next one starts only when there is one', () => {
    const entries = [1, 2, 5].map((position) => ({ agentId: `a${position}`, position }));
    expect(memberPage(entries, 2)).toEqual({ agentIds: ['a1', 'a2'], after: 2 });
    expect(memberPage(entries, 3)).toEqual({ agentIds: ['a1', 'a2', 'a5'], after: undefined });
    expect(memberPage([], 3)).toEqual({ agentIds: [], after: undefined });
  });

  it('read back every cursor they write', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (position) => {
        const cursor = encodeCursor(position);
        expect(cursor).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
        expect(decodeCursor(cursor)).toBe(position);
      }),
    );
  });

  it('refuse every other string as a cursor, however close to one it is', () => {
    const near = [
      '',
      'Zm9v', // "foo"
      Buffer.from('g1.-1').toString('base64url'),
      Buffer.from('g1.01').toString('base64url'),
      Buffer.from('g1.1.5').toString('base64url'),
      Buffer.from('g1.9007199254740993').toString('base64url'),
      Buffer.from('g2.1').toString('base64url'),
      `${encodeCursor(7)}=`,
      `${encodeCursor(7)} `,
      'x'.repeat(65),
    ];
    for (const cursor of near) expect(() => decodeCursor(cursor), cursor).toThrow(InvalidCursorError);
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (text) => {
        let position: number | undefined;
        try {
          position = decodeCursor(text);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidCursorError);
          return;
        }
        expect(encodeCursor(position)).toBe(text);
      }),
    );
  });
});

groupStoreContract('memory', async () => new MemoryGroupStore());
groupHandlerContract('memory', (env) => memoryTarget.use(env));

describe('memory: a group of 100,000 members', () => {
  it('walks it in 1,000 pages of 100, every member once, in join order', async () => {
    const store = new MemoryGroupStore();
    const all = members(BIG);
    for (const agent of all) await store.join('huge', agent);

    const { agents, pages } = await walk(store, 'huge', 100);

    expect(pages).toBe(BIG / 100);
    expect(agents).toEqual(all);
  });
});

describe.skipIf(!HAS_REDIS)('Upstash group store on a real Redis', () => {
  const target = redisTarget('groups');
  /** A second instance: its own bridge (its own connections) to the same Redis, under the same prefix. */
  let second: UpstashBridge;
  let bridge: UpstashBridge;
  let redis: TcpClient;
  let prefix: string;

  beforeAll(async () => {
    [bridge, redis, prefix] = [target.bridge, target.redis, `${target.prefix}stores:`];
    second = await startBridge();
  });
  afterAll(async () => {
    await second.close();
  });

  const groupStore = (over: UpstashBridge): GroupStore =>
    createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(over, prefix) })).groups;

  groupStoreContract('upstash', async () => groupStore(bridge));
  groupHandlerContract('upstash', (env) => target.use(env));

  it('writes exactly the keys a join declares, and a leave empties the sets but keeps the position counter', async () => {
    const keyPrefix = `${prefix}declared:`;
    const store = createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(bridge, keyPrefix) })).groups;
    const keys = redisKeys(keyPrefix);

    await store.join('g', 'a');
    const written = (await redis.keys(`${keyPrefix}*`)).sort();
    await store.leave('g', 'a');
    await store.join('g', 'b');

    expect(written).toEqual([keys.agentGroups('a'), keys.group('g'), keys.groupSeq('g')].sort());
    expect(await redis.exists(keys.agentGroups('a'))).toBe(0);
    expect(await redis.zScore(keys.group('g'), 'b')).toBe(2);
  });

  it('uses one HTTP request per store call', async () => {
    const store = groupStore(second);
    // The fewest requests in three tries: a script's first EVALSHA falls back to EVAL once (NOSCRIPT).
    const fewest = async (run: () => Promise<unknown>) => {
      let least = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i += 1) {
        const before = second.requests;
        await run();
        least = Math.min(least, second.requests - before);
      }
      return least;
    };
    await store.join('rt-group', 'rt-agent');

    const counts = [
      await fewest(() => store.join('rt-group', 'rt-agent')),
      await fewest(() => store.leave('rt-other', 'rt-agent')),
      await fewest(() => store.members('rt-group', 0, 100)),
      await fewest(() => store.groupsOf('rt-agent')),
    ];

    expect(counts).toEqual([1, 1, 1, 1]);
  });

  it(`lets exactly ${MAX_GROUPS_PER_AGENT} of ${MAX_GROUPS_PER_AGENT + 16} concurrent joins of one agent in through two instances, both sides in step`, async () => {
    const [one, two] = [groupStore(bridge), groupStore(second)];
    const agent = 'race-agent';
    const names = Array.from({ length: MAX_GROUPS_PER_AGENT + 16 }, (_, i) => `race-${i}`);

    const outcomes = await Promise.all(names.map((group, i) => (i % 2 === 0 ? one : two).join(group, agent)));

    const added = names.filter((_, i) => outcomes[i] === 'added');
    expect(added).toHaveLength(MAX_GROUPS_PER_AGENT);
    expect(outcomes.filter((outcome) => outcome === 'too_many_groups')).toHaveLength(16);
    expect(await one.groupsOf(agent)).toEqual([...added].sort());
    for (const group of names) {
      expect((await two.members(group, 0, 10)).agentIds).toEqual(added.includes(group) ? [agent] : []);
    }
  });

  it('keeps both sides in step under concurrent joins and leaves of the same members', async () => {
    const [one, two] = [groupStore(bridge), groupStore(second)];
    const agents = members(20);
    const work = agents.flatMap((agent, i) => [
      one.join('flip', agent),
      two.leave('flip', agent),
      (i % 2 === 0 ? two : one).join('flip', agent),
    ]);

    await Promise.all(work);

    const listed = (await one.members('flip', 0, 100)).agentIds;
    for (const agent of agents) {
      expect((await two.groupsOf(agent)).includes('flip'), agent).toBe(listed.includes(agent));
    }
  });

  it('walks a group of 100,000 members in 1,000 pages of 100 (one request each), every member once, in join order', async () => {
    const keyPrefix = `${prefix}big:`;
    const keys = redisKeys(keyPrefix);
    const all = members(BIG);
    // Filled with the real join script, pipelined over TCP: 100,000 calls through the bridge one at
    // a time would take a minute; what is under test is the walk through the store.
    // Straight to Redis, as the local bridge would send it (without Upstash's key-locking flag).
    const sha = (await redis.scriptLoad(portableScript(GROUP_JOIN.lua))) as string;
    for (let start = 0; start < BIG; start += 5_000) {
      await Promise.all(
        all.slice(start, start + 5_000).map((agent) => {
          const inputs = inputsOf(
            GROUP_JOIN,
            { groupKey: keys.group('huge'), seqKey: keys.groupSeq('huge'), agentGroupsKey: keys.agentGroups(agent) },
            { group: 'huge', agentId: agent, maxGroups: MAX_GROUPS_PER_AGENT },
          );
          return redis.evalSha(sha, { keys: inputs.keys, arguments: inputs.args });
        }),
      );
    }
    const store = createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(second, keyPrefix) })).groups;
    const before = second.requests;

    const { agents, pages } = await walk(store, 'huge', 100);

    expect(pages).toBe(BIG / 100);
    expect(second.requests - before).toBe(pages);
    expect(agents).toEqual(all);
    expect(await store.groupsOf(all[BIG - 1] as string)).toEqual(['huge']);
  }, 60_000);
});
