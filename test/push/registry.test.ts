/**
 * The push connection registry on both stores (lib/store/connections.ts): register, remove,
 * lookups by agent and by jti, the limit of four with the oldest evicted, lapse at the 2 h
 * maximum, registration behind the gate of the $connect token, and exactly once under a retried
 * call on Redis (the keys it writes and their expiries).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Connection, MAX_CONNECTION_MS, oldestConnection } from '../../lib/store/connections.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import type { Admission } from '../../lib/store/types.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { storeTargets } from '../helpers/targets.ts';

// Near the wall clock: Redis drops a key at its expiry by its own clock.
const T0 = Date.now();

function connection(agentId: string, connectionId: string, connectedAt: number, extra: Partial<Connection> = {}): Connection {
  return { connectionId, agentId, connectedAt, expiresAt: connectedAt + MAX_CONNECTION_MS, ...extra };
}

describe('the oldest connection', () => {
  it('is the earliest connected, the smaller id on a tie, none of none', () => {
    expect(oldestConnection([connection('a', 'c2', 5), connection('a', 'c1', 7), connection('a', 'c0', 5)])?.connectionId).toBe('c0');
    expect(oldestConnection([])).toBeUndefined();
  });
});

describe.each(storeTargets('push-registry'))('the connection registry on the $name store', (target) => {
  it('registers a connection, answers it by agent and by jti, and forgets it on remove', async () => {
    const { connections } = target.use().stores.unchecked;
    const agent = `agent-${randomUUID()}`;
    const jti = randomUUID();

    const first = await connections.register(connection(agent, 'conn-1', T0, { jti, iat: 1_700_000_000 }));
    const again = await connections.register(connection(agent, 'conn-1', T0 + 5));

    expect(first).toEqual({ outcome: 'registered', evicted: undefined });
    expect(again).toEqual({ outcome: 'unchanged', evicted: undefined });
    expect(await connections.ofAgents([agent], T0 + 1)).toEqual([connection(agent, 'conn-1', T0, { jti, iat: 1_700_000_000 })]);
    expect((await connections.byJti(jti, T0 + 1)).map((c) => c.connectionId)).toEqual(['conn-1']);
    expect(await connections.byJti(randomUUID(), T0 + 1)).toEqual([]);
    expect(await connections.remove('conn-1')).toBe(agent);
    expect(await connections.remove('conn-1')).toBeUndefined();
    expect(await connections.ofAgents([agent], T0 + 1)).toEqual([]);
  });

  it('keeps four connections per agent: a fifth evicts the oldest and names it', async () => {
    const { connections } = target.use().stores.unchecked;
    const agent = `agent-${randomUUID()}`;
    for (const i of [1, 2, 3, 4]) await connections.register(connection(agent, `conn-${i}`, T0 + i * 1000));

    const fifth = await connections.register(connection(agent, 'conn-5', T0 + 5000));

    expect(fifth).toEqual({ outcome: 'registered', evicted: 'conn-1' });
    expect((await connections.ofAgents([agent], T0 + 6000)).map((c) => c.connectionId)).toEqual(['conn-2', 'conn-3', 'conn-4', 'conn-5']);
    // Its $disconnect still finds it, to drop what is left of it.
    expect(await connections.remove('conn-1')).toBe(agent);
  });

  it('lets a connection lapse at its 2 h maximum: it is answered no more and no longer counts against the four', async () => {
    const { connections } = target.use().stores.unchecked;
    const agent = `agent-${randomUUID()}`;
    const jti = randomUUID();
    for (const i of [1, 2, 3, 4]) await connections.register(connection(agent, `conn-${i}`, T0 + i, { jti }));
    const lapsed = T0 + 1 + MAX_CONNECTION_MS;

    expect((await connections.ofAgents([agent], lapsed)).map((c) => c.connectionId)).toEqual(['conn-2', 'conn-3', 'conn-4']);
    expect((await connections.byJti(jti, lapsed)).map((c) => c.connectionId)).toEqual(['conn-2', 'conn-3', 'conn-4']);
    expect(await connections.register(connection(agent, 'conn-5', lapsed))).toEqual({ outcome: 'registered', evicted: undefined });
    expect(await connections.ofAgents([agent], T0 + 4 + MAX_CONNECTION_MS)).toEqual([connection(agent, 'conn-5', lapsed)]);
  });

  it('answers the connections of many agents in the order asked, each oldest first, and none for agents without', async () => {
    const { connections } = target.use().stores.unchecked;
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await connections.register(connection(b, 'b-2', T0 + 2));
    await connections.register(connection(a, 'a-1', T0 + 1));
    await connections.register(connection(b, 'b-1', T0 + 1));

    const found = await connections.ofAgents([c, b, a], T0 + 3);

    expect(found.map((x) => x.connectionId)).toEqual(['b-1', 'b-2', 'a-1']);
  });

  it('registers behind the gate: a revoked token registers nothing', async () => {
    const rt = target.use();
    const agent = `agent-${randomUUID()}`;
    const jti = randomUUID();
    await rt.stores.unchecked.revocations.revokeToken(jti, Math.floor(rt.clock.now() / 1000) + 3600);
    const admission: Admission = {
      token: { sub: agent, jti, iat: Math.floor(rt.clock.now() / 1000), exp: Math.floor(rt.clock.now() / 1000) + 600 },
      now: rt.clock.now(),
    };

    await expect(rt.stores.admitted(admission).connections.register(connection(agent, 'conn-1', rt.clock.now()))).rejects.toMatchObject({
      name: 'TokenError',
      reason: 'token_revoked',
    });
    expect(await rt.stores.unchecked.connections.ofAgents([agent], rt.clock.now())).toEqual([]);
  });

  if (target.name === 'redis') {
    it('writes its three keys, each expiring with the connection, and a retried registration answers its first reply', async () => {
      const prefix = `${target.prefix}keys-${randomUUID()}:`;
      const rt = target.use({ REDIS_KEY_PREFIX: prefix });
      const keys = redisKeys(prefix);
      const agent = `agent:${randomUUID()}`;
      const jti = randomUUID();
      const now = Date.now();
      for (const i of [1, 2, 3, 4]) await rt.stores.unchecked.connections.register(connection(agent, `conn-${i}`, now + i, { jti }));

      const admission: Admission = { token: { sub: agent, jti, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 600 }, now };
      // The first try runs in Redis and its answer is lost; meanwhile a sixth registers. The
      // client's retry of the fifth answers the first try's reply: conn-1 evicted, nothing again.
      const proxy = await startFaultProxy(target.bridge.url);
      try {
        const viaProxy = target.use({ REDIS_KEY_PREFIX: prefix, UPSTASH_REDIS_REST_URL: proxy.url });
        proxy.dropAnswer(
          (body) => /^\["eval/i.test(body),
          () => rt.stores.unchecked.connections.register(connection(agent, 'conn-6', now + 6, { jti })),
        );
        const fifth = await viaProxy.stores.admitted(admission).connections.register(connection(agent, 'conn-5', now + 5, { jti }));

        expect(proxy.dropped).toBe(1);
        expect(fifth).toEqual({ outcome: 'registered', evicted: 'conn-1' });
      } finally {
        await proxy.close();
      }
      expect((await rt.stores.unchecked.connections.ofAgents([agent], now + 7)).map((c) => c.connectionId)).toEqual([
        'conn-3',
        'conn-4',
        'conn-5',
        'conn-6',
      ]);
      expect(await target.redis.hLen(keys.pushAgent(agent))).toBe(4);
      const ttl = await target.redis.pExpireTime(keys.pushAgent(agent));
      expect(ttl).toBe(now + 6 + MAX_CONNECTION_MS);
      expect(await target.redis.get(keys.pushConnection('conn-5'))).toBe(agent);
      expect(await target.redis.pExpireTime(keys.pushConnection('conn-5'))).toBe(now + 5 + MAX_CONNECTION_MS);
      expect(await target.redis.get(keys.pushJti(jti))).toBe(agent);
      expect(await target.redis.pExpireTime(keys.pushJti(jti))).toBe(now + 6 + MAX_CONNECTION_MS);
    });
  }
});
