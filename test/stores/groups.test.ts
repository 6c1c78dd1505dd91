/**
 * Groups on both stores: the group store contract and the group routes through their real
 * handlers, in memory and on a real Redis through the bridge; then what only Redis can show
 * (the keys a join writes, one request per call behind the gate and without it, races between
 * instances) and a group of 100,000 members walked page by page on both stores. On both, a
 * revoked admission is refused before the action.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portableScript, type UpstashBridge } from '../../dev/upstash-bridge.ts';
import { handler as deleteGroupMember } from '../../functions/delete-group-member.ts';
import { handler as getAgentGroups } from '../../functions/get-agent-groups.ts';
import { handler as getGroupMembers } from '../../functions/get-group-members.ts';
import { handler as putGroupMember } from '../../functions/put-group-member.ts';
import { loadConfig } from '../../lib/config.ts';
import {
  decodeCursor,
  encodeCursor,
  InvalidCursorError,
  joinOutcome,
  MAX_GROUPS_PER_AGENT,
  memberPage,
} from '../../lib/groups/membership.ts';
import { MemoryGroupStore } from '../../lib/store/memory.ts';
import { GROUP_JOIN, inputsOf } from '../../lib/store/scripts.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import type { Admission, GroupStore, Stores, UncheckedGroupStore } from '../../lib/store/types.ts';
import { createUpstashStores } from '../../lib/store/upstash.ts';
import { groupHandlerContract, groupStoreContract, walk } from '../helpers/group-contract.ts';
import { HAS_REDIS, redisEnv, startBridge, type TcpClient } from '../helpers/redis.ts';
import { memoryTarget, redisTarget } from '../helpers/targets.ts';
import { type EventInput, type Handler, invoke } from '../helpers/lambda.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

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

/** A revoked admission on every group store method: refused with token_revoked, and the group is left as it was. */
function revokedAdmissionRefused(name: string, make: () => Promise<Stores>): void {
  it(`${name}: refuses a revoked admission before the action, so nothing joins, leaves or is read`, async () => {
    const stores = await make();
    const { groups, revocations } = stores.unchecked;
    const nowS = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    await revocations.revokeToken(jti, nowS + 600);
    const admission: Admission = { token: { jti, sub: 'gone-operator', iat: nowS, exp: nowS + 600 }, now: Date.now() };
    const [group, member, newcomer] = ['gate-group', 'gate-member', 'gate-newcomer'].map((id) => `${id}-${randomUUID().slice(0, 8)}`) as [
      string,
      string,
      string,
    ];
    await groups.join(group, member);

    const admitted = stores.admitted(admission).groups;
    const refusals = await Promise.allSettled([
      admitted.join(group, newcomer),
      admitted.leave(group, member),
      admitted.members(group, 0, 10),
      admitted.groupsOf(member),
    ]);

    expect(refusals.map((refusal) => (refusal.status === 'rejected' ? refusal.reason : refusal.value))).toEqual(
      Array.from({ length: 4 }, () => expect.objectContaining({ name: 'TokenError', reason: 'token_revoked' })),
    );
    expect((await groups.members(group, 0, 10)).agentIds).toEqual([member]);
    expect(await groups.groupsOf(newcomer)).toEqual([]);
    expect(await groups.groupsOf(member)).toEqual([group]);
  });
}

groupStoreContract('memory', async () => new MemoryGroupStore());
groupHandlerContract('memory', (env) => memoryTarget.use(env));

describe('memory: the gate', () => {
  revokedAdmissionRefused('memory', async () => memoryTarget.runtime().stores);
});

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

  const groupStore = (over: UpstashBridge): UncheckedGroupStore =>
    createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(over, prefix) })).unchecked.groups;

  groupStoreContract('upstash', async () => groupStore(bridge));
  groupHandlerContract('upstash', (env) => target.use(env));

  it('writes exactly the keys a join declares, and a leave empties the sets but keeps the position counter', async () => {
    const keyPrefix = `${prefix}declared:`;
    const store = createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(bridge, keyPrefix) })).unchecked.groups;
    const keys = redisKeys(keyPrefix);

    await store.join('g', 'a');
    const written = (await redis.keys(`${keyPrefix}*`)).sort();
    await store.leave('g', 'a');
    await store.join('g', 'b');

    expect(written).toEqual([keys.agentGroups('a'), keys.group('g'), keys.groupSeq('g')].sort());
    expect(await redis.exists(keys.agentGroups('a'))).toBe(0);
    expect(await redis.zScore(keys.group('g'), 'b')).toBe(2);
  });

  it('uses one HTTP request per store call, behind the gate (allowlist, rate limit on) and without it', async () => {
    const gatedStores = createUpstashStores(
      loadConfig({ ...TEST_ENV, ...redisEnv(second, prefix, { REVOCATION_MODE: 'allowlist', RATE_LIMIT_REQUESTS: '1000' }) }),
    );
    const nowS = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    await gatedStores.unchecked.revocations.registerToken(jti, nowS + 600);
    const admission: Admission = { token: { jti, sub: 'rt-operator', iat: nowS, exp: nowS + 600 }, now: Date.now() };
    const admitted = gatedStores.admitted(admission).groups;
    const calls = (store: GroupStore) => [
      () => store.join('rt-group', 'rt-agent'),
      () => store.leave('rt-other', 'rt-agent'),
      () => store.members('rt-group', 0, 100),
      () => store.groupsOf('rt-agent'),
    ];
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
    await groupStore(second).join('rt-group', 'rt-agent');

    const counts: number[] = [];
    for (const run of [...calls(groupStore(second)), ...calls(admitted)]) counts.push(await fewest(run));

    expect(counts).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(await admitted.groupsOf('rt-agent')).toEqual(['rt-group']);
  });

  it('serves each group route with one Upstash command through its handler, rate limit on', async () => {
    target.use({ RATE_LIMIT_REQUESTS: '1000' });
    const token = await signToken({ sub: 'ops-rt', scope: 'admin:groups' });
    const agentId = 'rt-handler-agent';
    const group = 'rt-handler-group';
    const member = { pathParameters: { group, agentId }, path: `/api/groups/${group}/agents/${agentId}` };
    const calls: [string, Handler, EventInput, number][] = [
      ['PutGroupMember', putGroupMember, { method: 'PUT', routeKey: 'PUT /api/groups/{group}/agents/{agentId}', ...member }, 204],
      [
        'GetGroupMembers',
        getGroupMembers,
        { routeKey: 'GET /api/groups/{group}/agents', path: `/api/groups/${group}/agents`, pathParameters: { group } },
        200,
      ],
      [
        'GetAgentGroups',
        getAgentGroups,
        { routeKey: 'GET /api/agents/{agentId}/groups', path: `/api/agents/${agentId}/groups`, pathParameters: { agentId } },
        200,
      ],
      [
        'DeleteGroupMember',
        deleteGroupMember,
        { method: 'DELETE', routeKey: 'DELETE /api/groups/{group}/agents/{agentId}', ...member },
        204,
      ],
    ];

    const counted: { name: string; status: number; requests: number }[] = [];
    // Twice: the first pass loads each script on the bridge (EVALSHA, NOSCRIPT, EVAL); the second is counted.
    for (const pass of [1, 2]) {
      for (const [name, handler, input] of calls) {
        const before = bridge.requests;
        const answer = await invoke(handler, { ...input, token });
        if (pass === 2) counted.push({ name, status: answer.status, requests: bridge.requests - before });
      }
    }

    expect(counted).toEqual(calls.map(([name, , , status]) => ({ name, status, requests: 1 })));
  });

  revokedAdmissionRefused('upstash', async () => createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(bridge, prefix) })));

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
            {
              groupKey: keys.group('huge'),
              seqKey: keys.groupSeq('huge'),
              agentGroupsKey: keys.agentGroups(agent),
              groupJobsKey: keys.groupJobs('huge'),
              groupBuildsKey: keys.groupBuilds('huge'),
              agentMetKey: keys.agentMet(agent),
            },
            { keyPrefix, group: 'huge', agentId: agent, maxGroups: MAX_GROUPS_PER_AGENT, now: Date.now() },
          );
          return redis.evalSha(sha, { keys: inputs.keys, arguments: inputs.args });
        }),
      );
    }
    const store = createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(second, keyPrefix) })).unchecked.groups;
    await store.members('huge', 0, 1); // the page script loaded on this bridge (EVALSHA, NOSCRIPT, EVAL)
    const before = second.requests;

    const { agents, pages } = await walk(store, 'huge', 100);

    expect(pages).toBe(BIG / 100);
    expect(second.requests - before).toBe(pages);
    expect(agents).toEqual(all);
    expect(await store.groupsOf(all[BIG - 1] as string)).toEqual(['huge']);
  }, 60_000);
});
