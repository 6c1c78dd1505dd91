/**
 * The store contract and the handler flows against both stores: in-memory, and Upstash through
 * the local bridge to a real Redis. Then what only a shared server can show: races between
 * "Lambda instances" (separate clients, separate bridge connections) on one Redis.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as postResults } from '../../functions/post-results.ts';
import { loadConfig } from '../../lib/config.ts';
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import type { CommandRecord, NewCommand } from '../../lib/commands/model.ts';
import { createUpstashStores } from '../../lib/store/upstash.ts';
import { invoke } from '../helpers/lambda.ts';
import { HAS_REDIS, redisEnv, startBridge, type TcpClient } from '../helpers/redis.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { handlerContract, storeContract } from '../helpers/store-contract.ts';
import { redisTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

for (const target of storeTargets('contract')) {
  storeContract(target);
  handlerContract(target);
}

describe.skipIf(!HAS_REDIS)('Upstash stores on a real Redis', () => {
  const target = redisTarget('upstash');
  let bridge: UpstashBridge;
  /** A second bridge: another "Lambda instance" with its own connection to the same Redis. */
  let second: UpstashBridge;
  let redis: TcpClient;
  /** This test's keys: every instance in one test shares them. */
  let prefix: string;

  beforeAll(async () => {
    ({ bridge, redis } = target);
    second = await startBridge();
  });
  afterAll(async () => {
    await second.close();
  });
  beforeEach(() => {
    prefix = target.env().REDIS_KEY_PREFIX as string;
  });

  /** The unchecked stores of one instance (its own client) on the bridge `over`. */
  const stores = (over: UpstashBridge, env: Record<string, string> = {}) =>
    createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(over, prefix, env) })).unchecked;

  describe('what it writes to Redis', () => {
    it('gives every command hash and queue an absolute expiry at expiresAt + retention, then completedAt + retention', async () => {
      const { commands } = stores(bridge, { RESULT_RETENTION_SECONDS: '3600' });
      const now = Date.now();
      const command = { commandId: randomUUID(), agentId: 'ttl-agent', command: 'x', args: {}, createdAt: now, expiresAt: now + 60_000 };
      await commands.enqueue(command);
      const hash = `${prefix}cmd:ttl-agent:${command.commandId}`;

      expect(await redis.pExpireTime(hash)).toBe(now + 60_000 + 3_600_000);
      expect(await redis.pExpireTime(`${prefix}queue:ttl-agent`)).toBe(now + 60_000 + 3_600_000);
      await commands.complete('ttl-agent', command.commandId, { status: 'completed', resultJson: undefined, completedAt: now + 5 });
      expect(await redis.pExpireTime(hash)).toBe(now + 5 + 3_600_000);
      expect(await redis.zScore(`${prefix}queue:ttl-agent`, command.commandId)).toBeNull();
    });

    it('uses one HTTP request per store call', async () => {
      const { commands, revocations } = stores(second);
      const now = Date.now();
      const newCommand = () => ({
        commandId: randomUUID(),
        agentId: 'rt-agent',
        command: 'x',
        args: {},
        createdAt: now,
        expiresAt: now + 60_000,
      });
      // The fewest requests a call took in three tries: a script's first EVALSHA falls back to EVAL
      // once (NOSCRIPT), also after another test file runs SCRIPT FLUSH on the shared Redis.
      const fewest = async (run: () => Promise<unknown>) => {
        let least = Number.POSITIVE_INFINITY;
        for (let i = 0; i < 3; i += 1) {
          const before = second.requests;
          await run();
          least = Math.min(least, second.requests - before);
        }
        return least;
      };
      const known = newCommand();
      await commands.enqueue(known);

      const counts = [
        await fewest(() => commands.enqueue(newCommand())),
        await fewest(() => commands.fetch('rt-agent', 10, now + 1)),
        await fewest(() => commands.complete('rt-agent', randomUUID(), { status: 'completed', resultJson: '1', completedAt: now + 2 })),
        await fewest(() =>
          commands.complete('rt-agent', known.commandId, {
            status: 'in_progress',
            statusDetailsJson: '{"step":"1"}',
            timeoutMs: 5_000,
            at: now + 2,
          }),
        ),
        await fewest(() => commands.cancel('rt-agent', randomUUID(), { reason: 'r', at: now + 3 })),
        await fewest(() => commands.list('rt-agent', { statuses: ['in_progress'], limit: 2, after: 0 }, now + 3)),
        await fewest(() => commands.enqueue(newCommand(), { sub: 'op', key: 'k-1', fingerprint: 'f' })),
        await fewest(() => commands.get('rt-agent', known.commandId)),
        await fewest(() => commands.getConfig('rt-agent')),
        await fewest(() => commands.putConfig('rt-agent', { a: 1 })),
        await fewest(() => revocations.isRevoked({ jti: 'j', sub: 's', iat: 1, exp: 2 })),
        await fewest(() => revocations.revokeToken(randomUUID(), Math.floor(now / 1000) + 60)),
        await fewest(() => revocations.revokeSubject(`rt-${randomUUID()}`, Math.floor(now / 1000))),
      ];

      expect(counts).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    });
  });

  describe('races between instances', () => {
    it('lets exactly one of N different concurrent results win through the handler (one 200, the rest 409)', async () => {
      const rt = useTestRuntime(redisEnv(bridge, prefix));
      const agentId = `race-${randomUUID().slice(0, 8)}`;
      const now = rt.clock.now();
      const commandId = randomUUID();
      await rt.stores.unchecked.commands.enqueue({ commandId, agentId, command: 'x', args: {}, createdAt: now, expiresAt: now + 60_000 });
      const token = await signToken({ sub: agentId, scope: 'agent:results' });

      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          invoke(postResults, {
            method: 'POST',
            path: '/api/results',
            token,
            body: { command_id: commandId, status: 'completed', result: { n: i } },
          }),
        ),
      );

      const statuses = answers.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(19);
      const winner = answers.findIndex((a) => a.status === 200);
      expect((await rt.stores.unchecked.commands.get(agentId, commandId))?.resultJson).toBe(JSON.stringify({ n: winner }));
    });

    it('lets exactly one of N different concurrent results win across separate clients and connections', async () => {
      const instances = Array.from({ length: 6 }, (_, i) => stores(i % 2 === 0 ? bridge : second).commands);
      const agentId = `race-${randomUUID().slice(0, 8)}`;
      const now = Date.now();
      const commandId = randomUUID();
      await instances[0]?.enqueue({ commandId, agentId, command: 'x', args: {}, createdAt: now, expiresAt: now + 60_000 });

      const outcomes = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          instances[i % instances.length]?.complete(agentId, commandId, {
            status: 'completed',
            resultJson: String(i),
            completedAt: now + 1,
          }),
        ),
      );

      expect(outcomes.filter((o) => o?.outcome === 'accepted')).toHaveLength(1);
      expect(outcomes.filter((o) => o?.outcome === 'refused' && o.status === 'completed')).toHaveLength(29);
    });

    it("loses nothing, keeps each producer's order and stamps deliveredAt once under concurrent enqueues and fetches", async () => {
      const producers = Array.from({ length: 4 }, (_, i) => stores(i % 2 === 0 ? bridge : second).commands);
      const consumers = Array.from({ length: 3 }, (_, i) => stores(i % 2 === 0 ? second : bridge).commands);
      const agentId = `busy-${randomUUID().slice(0, 8)}`;
      const start = Date.now();
      const perProducer = 25;
      const sent: string[][] = producers.map(() => []);
      const seenDelivered = new Map<string, Set<number>>();
      let clock = start;
      let producing = true;

      const produce = async (p: number) => {
        for (let i = 0; i < perProducer; i += 1) {
          const command: NewCommand = {
            commandId: `${p}-${i}-${randomUUID().slice(0, 6)}`,
            agentId,
            command: `p${p}`,
            args: { i },
            createdAt: start + i,
            expiresAt: start + 600_000,
          };
          await producers[p]?.enqueue(command);
          sent[p]?.push(command.commandId);
        }
      };
      const note = (records: CommandRecord[]) => {
        for (const record of records) {
          const set = seenDelivered.get(record.commandId) ?? new Set<number>();
          set.add(record.deliveredAt ?? -1);
          seenDelivered.set(record.commandId, set);
        }
      };
      const consume = async (c: number) => {
        while (producing) {
          clock += 1; // every fetch has its own "now": a second stamp would show
          note((await consumers[c]?.fetch(agentId, 100, clock)) ?? []);
        }
      };

      const consumersDone = Promise.all(consumers.map((_, c) => consume(c)));
      await Promise.all(producers.map((_, p) => produce(p)));
      producing = false;
      await consumersDone;
      clock += 1;
      const final = (await consumers[0]?.fetch(agentId, 100, clock)) ?? [];
      note(final);

      const all = sent.flat();
      expect(final).toHaveLength(all.length);
      expect(new Set(final.map((r) => r.commandId))).toEqual(new Set(all));
      const position = new Map(final.map((r, i) => [r.commandId, i]));
      for (const list of sent) {
        const positions = list.map((id) => position.get(id) ?? -1);
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
      }
      for (const [id, stamps] of seenDelivered) expect([id, stamps.size]).toEqual([id, 1]);
      expect(seenDelivered.size).toBe(all.length);
    });
  });
});
