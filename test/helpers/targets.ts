/**
 * The stores every behavioural suite runs on, from one place: in-memory always; real Redis
 * through the local Upstash bridge and the real @upstash/redis client when Redis answers (under
 * CI=true, always: see redis.ts).
 *
 *   const targets = storeTargets('endpoints');        // in the file or describe that uses them
 *   describe.each(targets)('on the $name store', (target) => { ... target.use() ... });
 *
 * A Redis-only suite takes `redisTarget(label)` and `describe.skipIf(!HAS_REDIS)`. Either way
 * the bridge and a TCP client are set up before the calling block's tests, and afterwards every
 * key under the target's prefix is deleted and both are closed.
 */
import { afterAll, beforeAll } from 'vitest';
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import type { ManualClock } from '../../lib/clock.ts';
import { loadConfig } from '../../lib/config.ts';
import { createRuntime, type Runtime, type RuntimeParts } from '../../lib/runtime.ts';
import { deletePrefix, HAS_REDIS, redisEnv, startBridge, type TcpClient, tcpClient, uniquePrefix } from './redis.ts';
import { useTestRuntime } from './runtime.ts';
import { TEST_ENV } from './tokens.ts';

export type TestRuntime = Runtime & { clock: ManualClock };

interface Target {
  /**
   * The environment that selects this store, `extra` on top. On Redis every call has a prefix
   * of its own (under `prefix`), so what it selects starts empty; runtimes that must share keys
   * pass one REDIS_KEY_PREFIX under `prefix` in `extra`.
   */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Installs a fresh runtime on an empty store, with a clock the test may move. */
  use(extra?: Record<string, string>, parts?: RuntimeParts): TestRuntime;
  /** A fresh runtime on an empty store, not installed, on the system clock (time passes for real). */
  runtime(extra?: Record<string, string>): Runtime;
}

export interface MemoryTarget extends Target {
  readonly name: 'memory';
}

export interface RedisTarget extends Target {
  readonly name: 'redis';
  /** Every key the target's runtimes write starts with it. */
  readonly prefix: string;
  /** Set by the time the calling block's tests (and its later beforeAll hooks) run. */
  readonly bridge: UpstashBridge;
  /** A plain TCP client, for looking at what the stores wrote. */
  readonly redis: TcpClient;
}

export type StoreTarget = MemoryTarget | RedisTarget;

function methods(env: (extra: Record<string, string>) => Record<string, string>): Target {
  return {
    env: (extra = {}) => env(extra),
    use: (extra = {}, parts = {}) => useTestRuntime(env(extra), parts),
    runtime: (extra = {}) => createRuntime(loadConfig({ ...TEST_ENV, ...env(extra) })),
  };
}

export const memoryTarget: MemoryTarget = { name: 'memory', ...methods((extra) => ({ ...extra })) };

/** Real Redis for the calling block: registers its set-up and clean-up there. */
export function redisTarget(label: string): RedisTarget {
  const prefix = uniquePrefix(label);
  let bridge: UpstashBridge | undefined;
  let redis: TcpClient | undefined;
  let runs = 0;
  const ready = () => {
    if (bridge === undefined || redis === undefined) throw new Error('the Redis target is used before its beforeAll ran');
    return { bridge, redis };
  };
  const env = (extra: Record<string, string>) => {
    runs += 1;
    return redisEnv(ready().bridge, `${prefix}${runs}:`, extra);
  };
  beforeAll(async () => {
    [bridge, redis] = await Promise.all([startBridge(), tcpClient()]);
  });
  afterAll(async () => {
    if (redis) {
      await deletePrefix(redis, prefix);
      redis.destroy();
    }
    await bridge?.close();
  });
  return {
    name: 'redis',
    ...methods(env),
    prefix,
    get bridge() {
      return ready().bridge;
    },
    get redis() {
      return ready().redis;
    },
  };
}

/** The targets for the calling block: memory, and Redis when it answers. */
export function storeTargets(label: string): StoreTarget[] {
  return HAS_REDIS ? [memoryTarget, redisTarget(label)] : [memoryTarget];
}
