/**
 * POST /api/groups/{group}/members on both stores: adds and removes counted as single joins and
 * leaves would count them, the 64-group limit per agent (refused, the others go on), continuous
 * jobs taking the joiners as targets, leavers keeping what they are still to receive, the same
 * state as the single joins and leaves one by one; the 400s with their exact messages. On Redis:
 * one Upstash command a request, bulk adds racing for the limit through two instances never
 * exceed it, and the script's Redis time at 1,000 ids on a group of 100,000 members (a
 * redis-server of the test's own, SLOWLOG).
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOwnRedis, type OwnRedis } from '../../dev/own-redis.ts';
import { portableScript, type UpstashBridge } from '../../dev/upstash-bridge.ts';
import { handler as postGroupMembers } from '../../functions/post-group-members.ts';
import { loadConfig } from '../../lib/config.ts';
import { MAX_BULK_MEMBERS, MAX_GROUPS_PER_AGENT } from '../../lib/groups/membership.ts';
import type { JobSpec } from '../../lib/jobs/model.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import { GROUP_BULK, inputsOf } from '../../lib/store/scripts.ts';
import type { UncheckedGroupStore } from '../../lib/store/types.ts';
import { createUpstashStores } from '../../lib/store/upstash.ts';
import { invoke } from '../helpers/lambda.ts';
import { HAS_REDIS, redisEnv, startBridge, type TcpClient } from '../helpers/redis.ts';
import { redisTarget, type StoreTarget, storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

const fresh = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
const HOUR = 3_600_000;

describe.each(storeTargets('group-bulk'))('bulk membership on the $name store', (target: StoreTarget) => {
  let rt: TestRuntime;
  let ops: string;
  beforeEach(async () => {
    rt = target.use();
    ops = await signToken({ sub: 'ops-1', scope: 'admin:groups' });
  });

  const post = (group: string, body: unknown) =>
    invoke(postGroupMembers, {
      method: 'POST',
      path: `/api/groups/${encodeURIComponent(group)}/members`,
      routeKey: 'POST /api/groups/{group}/members',
      pathParameters: { group },
      token: ops,
      body,
    });
  const groups = () => rt.stores.unchecked.groups;
  const membersOf = async (group: string) => (await groups().members(group, 0, 100)).agentIds;
  const spec = (targets: { agents?: string[]; groups?: string[] }, extra: Partial<JobSpec> = {}): JobSpec => ({
    jobId: randomUUID(),
    command: 'restart',
    args: {},
    targets: { agents: targets.agents ?? [], groups: targets.groups ?? [] },
    createdAt: rt.clock.now(),
    expiresAt: rt.clock.now() + HOUR,
    continuous: false,
    ...extra,
  });

  it('adds and removes many agents, counting each as a single join or leave would', async () => {
    const group = fresh('web:eu');
    await groups().join(group, 'a-1', rt.clock.now());
    await groups().join(group, 'a-2', rt.clock.now());

    const answer = await post(group, { add: ['a-2', 'a-3', 'a-4', 'a-3'], remove: ['a-1', 'a-9'] });

    expect(answer.status).toBe(200);
    expect(answer.body).toStrictEqual({ added: 2, removed: 1, unchanged: 2, refused: [] });
    expect(await membersOf(group)).toEqual(['a-2', 'a-3', 'a-4']);
    expect(await groups().groupsOf('a-3')).toEqual([group]);
    expect(await groups().groupsOf('a-1')).toEqual([]);
  });

  it('refuses an agent already in 64 groups (group_limit, nothing changed for it) and goes on with the others', async () => {
    const group = fresh('g');
    const full = fresh('full');
    for (let i = 0; i < MAX_GROUPS_PER_AGENT; i += 1) await groups().join(`${group}-${i}`, full, rt.clock.now());

    const answer = await post(group, { add: ['x-1', full, 'x-2'] });

    expect(answer.body).toStrictEqual({ added: 2, removed: 0, unchanged: 0, refused: [{ agent_id: full, reason: 'group_limit' }] });
    expect(await membersOf(group)).toEqual(['x-1', 'x-2']);
    expect(await groups().groupsOf(full)).toHaveLength(MAX_GROUPS_PER_AGENT);
  });

  it('makes the joiners targets of the group continuous jobs in progress, not of a snapshot job; a leaver keeps its execution', async () => {
    const group = fresh('g');
    await groups().join(group, 'c-0', rt.clock.now());
    const continuous = spec({ groups: [group] }, { continuous: true });
    const snapshot = spec({ groups: [group] });
    await rt.stores.unchecked.jobs.create(continuous);
    await rt.stores.unchecked.jobs.create(snapshot);
    rt.clock.advance(1_000);

    await post(group, { add: ['c-1', 'c-2'], remove: ['c-0'] });

    const now = rt.clock.now();
    expect((await rt.stores.unchecked.jobs.get(continuous.jobId, now))?.counts.pending).toBe(3);
    expect((await rt.stores.unchecked.jobs.get(snapshot.jobId, now))?.counts.pending).toBe(1);
    const polled = await rt.stores.unchecked.commands.fetch('c-0', 10, now);
    expect(polled.map((record) => record.commandId).sort()).toEqual([continuous.jobId, snapshot.jobId].sort());
    expect((await rt.stores.unchecked.commands.fetch('c-1', 10, now)).map((record) => record.commandId)).toEqual([continuous.jobId]);
  });

  it('leaves the same members, groups and job targets as the single joins and leaves one by one', async () => {
    const [bulk, single] = [fresh('bulk'), fresh('single')];
    const seed = ['s-1', 's-2', 's-3'];
    for (const group of [bulk, single]) for (const agent of seed) await groups().join(group, agent, rt.clock.now());
    const jobs = [spec({ groups: [bulk] }, { continuous: true }), spec({ groups: [single] }, { continuous: true })];
    for (const job of jobs) await rt.stores.unchecked.jobs.create(job);
    const add = ['s-4', 's-1', 's-5'];
    const remove = ['s-2', 's-9'];

    await groups().change(bulk, { add, remove }, rt.clock.now());
    for (const agent of remove) await groups().leave(single, agent);
    for (const agent of add) await groups().join(single, agent, rt.clock.now());

    expect(await membersOf(bulk)).toEqual(await membersOf(single));
    const [one, two] = await Promise.all(
      jobs.map((job) => rt.stores.unchecked.jobs.executions(job.jobId, { statuses: undefined, limit: 50, after: 0 }, rt.clock.now())),
    );
    expect(one?.executions.map((entry) => entry.agentId)).toEqual(two?.executions.map((entry) => entry.agentId));
    expect(one?.executions).toHaveLength(5);
  });

  it('answers 400 with what is wrong, and changes nothing', async () => {
    const group = fresh('g');
    const cases: [unknown, string][] = [
      [{}, 'add and remove must name at least one agent id between them'],
      [{ add: [], remove: [] }, 'add and remove must name at least one agent id between them'],
      [{ add: 'a-1' }, 'add must be an array of agent ids'],
      [{ remove: { a: 1 } }, 'remove must be an array of agent ids'],
      [{ add: ['a-1'], extra: true }, 'unknown field: extra'],
      [{ add: ['bad id'] }, 'add[0] must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ -'],
      [{ add: ['a-1', 'a-2'], remove: ['a-2'] }, 'a-2 is in both add and remove'],
      [
        { add: Array.from({ length: 600 }, (_, i) => `n-${i}`), remove: Array.from({ length: 401 }, (_, i) => `r-${i}`) },
        `add and remove may name at most ${MAX_BULK_MEMBERS} agent ids together`,
      ],
      [[1], 'the body must be a JSON object with add and/or remove'],
    ];
    for (const [body, description] of cases) {
      const answer = await post(group, body);
      expect({ status: answer.status, body: answer.body }).toMatchObject({
        status: 400,
        body: { error: 'invalid_request', error_description: description },
      });
    }
    expect(await membersOf(group)).toEqual([]);
  });

  it(`takes ${MAX_BULK_MEMBERS} ids in one request`, async () => {
    const group = fresh('g');
    const add = Array.from({ length: MAX_BULK_MEMBERS }, (_, i) => `m-${String(i).padStart(4, '0')}`);

    const answer = await post(group, { add });

    expect(answer.body).toMatchObject({ added: MAX_BULK_MEMBERS });
    expect((await groups().members(group, 0, 100)).agentIds).toEqual(add.slice(0, 100));
  });
});

describe.skipIf(!HAS_REDIS)('bulk membership on Redis only', () => {
  const target = redisTarget('group-bulk-redis');
  let second: UpstashBridge;
  beforeAll(async () => {
    second = await startBridge();
  });
  afterAll(async () => {
    await second.close();
  });
  const storeOver = (bridge: UpstashBridge, prefix: string): UncheckedGroupStore =>
    createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(bridge, prefix) })).unchecked.groups;

  it('is one Upstash command a request', async () => {
    target.use();
    const token = await signToken({ sub: 'ops-1', scope: 'admin:groups' });
    const group = fresh('g');
    const send = () =>
      invoke(postGroupMembers, {
        method: 'POST',
        path: `/api/groups/${group}/members`,
        pathParameters: { group },
        token,
        body: { add: ['o-1', 'o-2'], remove: ['o-3'] },
      });
    await send(); // loads the script on the bridge (EVALSHA, NOSCRIPT, EVAL)
    const before = target.bridge.requests;

    expect((await send()).status).toBe(200);

    expect(target.bridge.requests - before).toBe(1);
  });

  it(`never lets an agent past ${MAX_GROUPS_PER_AGENT} groups when bulk adds race through two instances`, async () => {
    const prefix = `${target.prefix}race:`;
    const [one, two] = [storeOver(target.bridge, prefix), storeOver(second, prefix)];
    const agents = ['race-x', 'race-y', 'race-z'];
    const names = Array.from({ length: MAX_GROUPS_PER_AGENT + 16 }, (_, i) => `race-${i}`);

    const outcomes = await Promise.all(names.map((group, i) => (i % 2 === 0 ? one : two).change(group, { add: agents, remove: [] })));

    expect(outcomes.reduce((sum, outcome) => sum + outcome.added, 0)).toBe(agents.length * MAX_GROUPS_PER_AGENT);
    expect(outcomes.reduce((sum, outcome) => sum + outcome.refused.length, 0)).toBe(agents.length * 16);
    for (const agent of agents) {
      const mine = await one.groupsOf(agent);
      expect(mine).toHaveLength(MAX_GROUPS_PER_AGENT);
      for (const group of names) expect((await two.members(group, 0, 10)).agentIds.includes(agent)).toBe(mine.includes(group));
    }
  });
});

describe.skipIf(!HAS_REDIS)('the bulk script at its largest, on a redis-server of its own', () => {
  const BIG = 100_000;
  let own: OwnRedis;
  let redis: TcpClient;
  beforeAll(async () => {
    own = await startOwnRedis();
    redis = createClient({ socket: { host: '127.0.0.1', port: own.port } });
    redis.on('error', () => {});
    await redis.connect();
  }, 30_000);
  afterAll(async () => {
    redis?.destroy();
    await own?.stop();
  });

  it(`adds and removes ${MAX_BULK_MEMBERS} agents of a group of ${BIG} members in one script of a few ms`, async () => {
    const prefix = 'bulk:';
    const keys = redisKeys(prefix);
    const group = 'huge';
    const member = (i: number) => `agent-${String(i).padStart(6, '0')}`;
    // The group as 100,000 single joins leave it (members by position, each agent's set, the
    // group's counter), written by one script: 100,000 round trips would load the machine for
    // seconds while other suites run.
    await redis.eval(
      `for i = 1, ${BIG} do
        local agent = string.format('agent-%06d', i - 1)
        redis.call('ZADD', KEYS[1], i, agent)
        redis.call('SADD', ARGV[1] .. agent, ARGV[2])
      end
      redis.call('SET', KEYS[2], ${BIG})`,
      { keys: [keys.group(group), keys.groupSeq(group)], arguments: [keys.agentGroups(''), group] },
    );
    const bulkSha = (await redis.scriptLoad(portableScript(GROUP_BULK.lua))) as string;
    const run = async (add: string[], remove: string[]) => {
      const inputs = inputsOf(
        GROUP_BULK,
        {
          groupKey: keys.group(group),
          seqKey: keys.groupSeq(group),
          groupJobsKey: keys.groupJobs(group),
          groupBuildsKey: keys.groupBuilds(group),
        },
        {
          keyPrefix: prefix,
          group,
          addJson: JSON.stringify(add),
          removeJson: JSON.stringify(remove),
          maxGroups: MAX_GROUPS_PER_AGENT,
          now: Date.now(),
          retentionMs: 86_400_000,
        },
      );
      await redis.sendCommand(['SLOWLOG', 'RESET']);
      const answer = await redis.evalSha(bulkSha, { keys: inputs.keys, arguments: inputs.args });
      const log = (await redis.sendCommand(['SLOWLOG', 'GET', '10'])) as [number, number, number, string[]][];
      const us = Math.max(...log.filter((entry) => /^evalsha$/i.test(String(entry[3][0]))).map((entry) => Number(entry[2])));
      return { answer, ms: us / 1000 };
    };
    await redis.sendCommand(['CONFIG', 'SET', 'slowlog-log-slower-than', '0']);
    // What this machine gives now: one command on each of 2,000 small keys (a bulk of 1,000 needs
    // about that many at the least: each agent's own set), on an idle machine about 1 ms.
    await redis.sendCommand(['SLOWLOG', 'RESET']);
    await redis.eval("for i = 1, 1000 do redis.call('SADD', 'cal:' .. i, 'g') redis.call('SREM', 'cal:' .. i, 'g') end", { keys: [] });
    const calibration = Number(((await redis.sendCommand(['SLOWLOG', 'GET', '1'])) as [number, number, number][])[0]?.[2]) / 1000;

    const adds = await run(
      Array.from({ length: MAX_BULK_MEMBERS }, (_, i) => member(BIG + i)),
      [],
    );
    const removes = await run(
      [],
      Array.from({ length: MAX_BULK_MEMBERS }, (_, i) => member(i * 97)),
    );
    const mixed = await run(
      Array.from({ length: MAX_BULK_MEMBERS / 2 }, (_, i) => member(BIG * 2 + i)),
      Array.from({ length: MAX_BULK_MEMBERS / 2 }, (_, i) => member(i * 97 + 1)),
    );

    console.info(
      `group-bulk on a group of ${BIG}: ${MAX_BULK_MEMBERS} adds ${adds.ms.toFixed(2)} ms, ${MAX_BULK_MEMBERS} removes ${removes.ms.toFixed(2)} ms, ${MAX_BULK_MEMBERS / 2} + ${MAX_BULK_MEMBERS / 2} ${mixed.ms.toFixed(2)} ms (2,000 bare commands: ${calibration.toFixed(2)} ms)`,
    );
    expect(adds.answer).toEqual([MAX_BULK_MEMBERS, 0, 0, []]);
    expect(removes.answer).toEqual([0, MAX_BULK_MEMBERS, 0, []]);
    expect(await redis.zCard(keys.group(group))).toBe(BIG);
    // Within ten times the bare commands it cannot do without, whatever the load of the machine (on one at rest: a few ms).
    for (const time of [adds.ms, removes.ms, mixed.ms]) expect(time).toBeLessThan(Math.max(10, 10 * calibration));
  }, 120_000);
});
