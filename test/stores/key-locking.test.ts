/**
 * Key locking, proved on a Redis of the test's own: every script marked for Upstash's
 * `allow-key-locking` touches only the keys it declares. Redis MONITOR shows each command a
 * script runs (`[0 lua]`) with its keys; each store call is followed by an ECHO marker, so the
 * lines between two markers are one script's. The stores run through the local bridge with
 * everything the gate can read switched on (allowlist mode, the rate limit), behind the gate and
 * without it. The scripts left unmarked (ENQUEUE with an idempotency key, FETCH, LIST, GROUP_JOIN,
 * GROUP_LEAVE, JOB_CREATE, JOB_LIST, JOB_EXECUTIONS) are shown to need keys they cannot declare;
 * COMPLETE, CANCEL and GET_COMMAND on a job's execution, JOB_GET, JOB_CANCEL and JOB_PAUSE keep the flag.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstashBridge, type UpstashBridge } from '../../dev/upstash-bridge.ts';
import { loadConfig } from '../../lib/config.ts';
import { KEY_LOCKING_FLAG } from '../../lib/store/scripts.ts';
import type { Admission } from '../../lib/store/types.ts';
import { createUpstashStores } from '../../lib/store/upstash.ts';
import { type OwnRedis, startOwnRedis } from '../../dev/own-redis.ts';
import { redisEnv } from '../helpers/redis.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

/** The arguments of one MONITOR line: `<time> [0 <client>] "CMD" "arg" ...`, with Redis's escapes. */
function monitorLine(line: string): { client: string; args: string[] } | undefined {
  const head = /^\S+ \[\d+ ([^\]]+)\] /.exec(line);
  if (head === null) return undefined;
  const args: string[] = [];
  const quoted = /"((?:[^"\\]|\\.)*)"/g;
  for (const match of line.slice(head[0].length).matchAll(quoted)) {
    args.push(
      (match[1] ?? '').replace(/\\x([0-9a-f]{2})|\\(.)/g, (_all, hex: string | undefined, char: string | undefined) =>
        hex !== undefined ? String.fromCharCode(Number.parseInt(hex, 16)) : char === 'n' ? '\n' : char === 'r' ? '\r' : (char ?? ''),
      ),
    );
  }
  return { client: head[1] ?? '', args };
}

/** The keys a command names: every argument for the multi-key ones, else the first. */
function keysOf(args: readonly string[]): string[] {
  const [name = '', ...rest] = args;
  return ['exists', 'del', 'unlink', 'mget', 'touch'].includes(name.toLowerCase()) ? rest : rest.slice(0, 1);
}

interface Segment {
  readonly declared: Set<string>;
  readonly touched: string[];
  readonly scripts: string[];
}

describe('key locking on a Redis of our own', () => {
  let own: OwnRedis;
  let bridge: UpstashBridge;
  let monitor: ReturnType<typeof createClient>;
  let marker: ReturnType<typeof createClient>;
  const lines: string[] = [];
  const prefix = 'lock:';

  beforeAll(async () => {
    own = await startOwnRedis();
    bridge = await startUpstashBridge({ redisHost: '127.0.0.1', redisPort: own.port });
    monitor = createClient({ socket: { host: '127.0.0.1', port: own.port } });
    marker = createClient({ socket: { host: '127.0.0.1', port: own.port } });
    monitor.on('error', () => {});
    marker.on('error', () => {});
    await Promise.all([monitor.connect(), marker.connect()]);
    await monitor.monitor((line) => lines.push(String(line)));
  });

  afterAll(async () => {
    monitor?.destroy();
    marker?.destroy();
    await bridge?.close();
    await own?.stop();
  });

  /** Runs one store call and returns what its script(s) declared and touched, from MONITOR. */
  async function observed(run: () => Promise<unknown>): Promise<Segment> {
    const id = randomUUID();
    await run();
    await marker.echo(`end-${id}`);
    for (let i = 0; i < 100 && !lines.some((line) => line.includes(`end-${id}`)); i += 1) await new Promise((r) => setTimeout(r, 10));
    const end = lines.findIndex((line) => line.includes(`end-${id}`));
    const mine = lines.splice(0, end + 1).map(monitorLine);
    const declared = new Set<string>();
    const touched: string[] = [];
    const scripts: string[] = [];
    for (const entry of mine) {
      if (entry === undefined) continue;
      const [name = '', script = '', count = '0', ...rest] = entry.args;
      if (entry.client === 'lua') touched.push(...keysOf(entry.args));
      else if (/^evalsha$|^eval$/i.test(name)) {
        scripts.push(name.toLowerCase() === 'eval' ? script : `sha:${script}`);
        for (const key of rest.slice(0, Number(count))) declared.add(key);
      }
    }
    return { declared, touched, scripts };
  }

  const undeclared = (segment: Segment) => segment.touched.filter((key) => !segment.declared.has(key));

  it('sees every command a script runs, with its keys, and tells declared from undeclared', async () => {
    const segment = await observed(() =>
      marker.eval("redis.call('GET', KEYS[1]); return redis.call('GET', ARGV[1])", { keys: ['a'], arguments: ['b'] }),
    );
    expect(segment.touched).toEqual(['a', 'b']);
    expect(undeclared(segment)).toEqual(['b']);
  });

  it('touches only declared keys in every script sent with allow-key-locking, behind the gate and without it', async () => {
    const config = loadConfig({
      ...TEST_ENV,
      ...redisEnv(bridge, prefix, { REVOCATION_MODE: 'allowlist', RATE_LIMIT_REQUESTS: '1000' }),
    });
    const stores = createUpstashStores(config);
    const { commands, revocations, groups, jobs } = stores.unchecked;
    const now = Date.now();
    const nowS = Math.floor(now / 1000);
    const agent = 'agent:lock%1';
    const jti = randomUUID();
    await revocations.registerToken(jti, nowS + 600);
    const admission: Admission = { token: { jti, sub: agent, iat: nowS, exp: nowS + 600 }, now };
    const gated = stores.admitted(admission);
    const commandId = randomUUID();
    const command = { commandId, agentId: agent, command: 'collect_metrics', args: { n: 1 }, createdAt: now, expiresAt: now + 60_000 };
    await revocations.revokeSubject('someone-else', nowS); // a cut-off for another subject exists

    await gated.commands.enqueue(command);
    await observed(async () => {}); // the set-up's lines are not the first script's
    const marked: [string, () => Promise<unknown>][] = [
      ['complete', () => gated.commands.complete(agent, commandId, { status: 'completed', resultJson: '{}', completedAt: now + 1 })],
      ['get', () => gated.commands.get(agent, commandId)],
      ['putConfig', () => gated.commands.putConfig(agent, { a: 1 })],
      ['getConfig', () => gated.commands.getConfig(agent)],
      ['admit', () => gated.admit()],
      ['isRevoked', () => revocations.isRevoked(admission.token)],
      ['revokeToken', () => gated.revocations.revokeToken(randomUUID(), nowS + 60)],
      ['revokeSubject', () => gated.revocations.revokeSubject('someone-else', nowS + 1)],
      ['cancel', () => gated.commands.cancel(agent, randomUUID(), { reason: undefined, at: now })],
      ['complete, ungated', () => commands.complete(agent, randomUUID(), { status: 'failed', resultJson: undefined, completedAt: now })],
      ['revokeSubject, ungated', () => revocations.revokeSubject('someone-else', nowS + 2)],
      ['group members', () => gated.groups.members('lock:group', 0, 10)],
      ['agent groups', () => gated.groups.groupsOf(agent)],
      ['group members, ungated', () => groups.members('lock:group', 0, 10)],
      ['agent groups, ungated', () => groups.groupsOf(agent)],
      [
        'push register',
        () => gated.connections.register({ connectionId: 'lock=', agentId: agent, jti, connectedAt: now, expiresAt: now + 60_000 }),
      ],
      [
        'push register, ungated',
        () => stores.unchecked.connections.register({ connectionId: 'lock2=', agentId: agent, connectedAt: now, expiresAt: now + 60_000 }),
      ],
    ];
    for (const [name, run] of marked) {
      const segment = await observed(run);
      expect(segment.scripts.length, name).toBeGreaterThan(0);
      expect(segment.touched.length, name).toBeGreaterThan(0);
      expect({ name, undeclared: undeclared(segment) }).toEqual({ name, undeclared: [] });
    }

    // A job's executions: the scripts that act on one command declare the job's keys from its id.
    const job = (jobId: string, abort: boolean) => ({
      jobId,
      command: 'collect_metrics',
      args: {},
      targets: { agents: [agent], groups: ['lock:jobs'] },
      createdAt: now,
      expiresAt: now + 60_000,
      timeoutMs: 30_000,
      continuous: true,
      rollout: { maxPerMinute: 10 },
      ...(abort ? { abort: { criteria: [{ failureType: 'all' as const, thresholdPercent: 50, minExecuted: 1 }] } } : {}),
    });
    const [forced, aborted] = [randomUUID(), randomUUID()];
    await groups.join('lock:jobs', agent);
    await gated.jobs.create(job(forced, false));
    await gated.jobs.create(job(aborted, true));
    await gated.commands.fetch(agent, 10, now); // both executions made
    await observed(async () => {});
    const onJobs: [string, () => Promise<unknown>][] = [
      [
        'complete, in progress, an execution',
        () =>
          gated.commands.complete(agent, forced, { status: 'in_progress', at: now + 1, statusDetailsJson: undefined, timeoutMs: 9_000 }),
      ],
      ['get an execution', () => gated.commands.get(agent, forced)],
      ['one execution of a job, with its history', () => gated.jobs.execution(forced, agent, now + 2)],
      ['one target of a job that is none', () => jobs.execution(forced, 'agent:no-target', now + 2)],
      ['job get', () => gated.jobs.get(forced, now + 2)],
      ['job get, ungated', () => jobs.get(forced, now + 2)],
      ['job pause', () => gated.jobs.pause(forced, { paused: true, reason: 'hold', at: now + 2 })],
      ['job resume', () => gated.jobs.pause(forced, { paused: false, reason: undefined, at: now + 2 })],
      ['job cancel, forced', () => gated.jobs.cancel(forced, { reason: 'stop', force: true, at: now + 3 })],
      ['get an execution its job ended', () => gated.commands.get(agent, forced)],
      ['cancel an execution its job ended', () => gated.commands.cancel(agent, forced, { reason: undefined, at: now + 4 })],
      ['one execution its job ended, settled', () => gated.jobs.execution(forced, agent, now + 4)],
      [
        'complete, failed, the execution that aborts its job',
        () => gated.commands.complete(agent, aborted, { status: 'failed', resultJson: undefined, completedAt: now + 5 }),
      ],
      ['job cancel, refused', () => jobs.cancel(aborted, { reason: undefined, force: false, at: now + 6 })],
      ['job pause, refused', () => jobs.pause(aborted, { paused: true, reason: undefined, at: now + 6 })],
    ];
    for (const [name, run] of onJobs) {
      const segment = await observed(run);
      expect(
        segment.touched.some((key) => key.startsWith(`${prefix}job`)),
        name,
      ).toBe(true);
      expect({ name, undeclared: undeclared(segment) }).toEqual({ name, undeclared: [] });
    }
    expect(await jobs.get(aborted, now + 7)).toMatchObject({ status: 'aborted' });

    // The unmarked ones: each reads a key it finds on its way (the hash of a command, a job, a
    // group), one it could not name up front.
    const idempotency = { sub: 'operator-1', key: 'k-1', fingerprint: 'f-1' };
    await observed(() => commands.enqueue({ ...command, commandId: randomUUID() }, idempotency)); // its own segment
    await observed(() => gated.jobs.create(job(randomUUID(), false))); // one in progress for the group's join and leave
    const commandHash = `${prefix}cmd:agent%3Alock%251:`;
    const unmarked: [string, () => Promise<unknown>, readonly string[]][] = [
      [
        'fetch',
        () => gated.commands.fetch(agent, 10, now),
        [commandHash, `${prefix}job`, `${prefix}group-jobs:`, `${prefix}history:agent%3Alock%251:`],
      ],
      ['list', () => gated.commands.list(agent, { statuses: undefined, limit: 10, after: 0 }, now), [commandHash, `${prefix}job:`]],
      ['enqueue, replayed', () => gated.commands.enqueue({ ...command, commandId: randomUUID() }, idempotency), [commandHash]],
      ['group leave', () => gated.groups.leave('lock:jobs', agent), [`${prefix}job`]],
      ['group join', () => gated.groups.join('lock:jobs', agent), [`${prefix}job`]],
      ['group leave, ungated', () => groups.leave('lock:jobs', agent), [`${prefix}job`]],
      ['group join, ungated', () => groups.join('lock:jobs', agent), [`${prefix}job`]],
      [
        'job create',
        () => gated.jobs.create(job(randomUUID(), false)),
        [`${prefix}group:`, `${prefix}group-seq:`, `${prefix}group-jobs:`, `${prefix}agent-jobs:`],
      ],
      ['job list', () => gated.jobs.list({ statuses: undefined, limit: 10, before: 0 }, now), [`${prefix}job`]],
      ['job executions', () => gated.jobs.executions(forced, { statuses: undefined, limit: 10, after: 0 }, now + 8), [commandHash]],
    ];
    for (const [name, run, allowed] of unmarked) {
      const segment = await observed(run);
      expect(undeclared(segment).length, name).toBeGreaterThan(0);
      expect(
        undeclared(segment).filter((key) => !allowed.some((start) => key.startsWith(start))),
        name,
      ).toEqual([]);
    }
  });

  it('strips the flag before Redis sees a script: Redis 7 refuses it, the bridge runs it', async () => {
    const flagged = `#!lua flags=${KEY_LOCKING_FLAG}\nreturn redis.call('GET', KEYS[1])`;
    await expect(marker.eval(flagged, { keys: [`${prefix}x`] })).rejects.toThrow(/Unexpected flag/);
    const answer = await fetch(`${bridge.url}/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bridge.token}` },
      body: JSON.stringify(['eval', flagged, 1, `${prefix}x`]),
    });
    expect(await answer.json()).toEqual({ result: null });
  });
});
