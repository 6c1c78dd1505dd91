/**
 * Real Redis for tests, the parts: is it reachable, a bridge in front of it, unique key prefixes,
 * and clean-up of a prefix. Suites take their Redis from targets.ts, which puts these together.
 *
 * When no Redis answers on REDIS_HOST:REDIS_PORT (default 127.0.0.1:6379): under CI=true the
 * Redis test files fail (redisAvailable throws); elsewhere they are skipped with a loud warning.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { startUpstashBridge, type UpstashBridge } from '../../dev/upstash-bridge.ts';

export const REDIS_HOST = process.env.REDIS_HOST || '127.0.0.1';
export const REDIS_PORT = Number(process.env.REDIS_PORT || 6379);

async function ping(): Promise<string | undefined> {
  const client = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT, connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    const answer = await client.ping();
    return answer === 'PONG' ? undefined : `unexpected PING answer ${answer}`;
  } catch (error) {
    return (error as Error).message;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** True when Redis answers. Throws under CI=true when it does not; warns loudly otherwise. */
export async function redisAvailable(): Promise<boolean> {
  const problem = await ping();
  if (problem === undefined) return true;
  const message = `no Redis at ${REDIS_HOST}:${REDIS_PORT} (${problem})`;
  if (process.env.CI === 'true') throw new Error(`${message}: the Redis tests must run in CI (.ci/run starts Redis)`);
  console.warn(
    `\n${'!'.repeat(78)}\n!!! ${message}\n!!! SKIPPING the Redis tests. Start one (redis-server) to run them.\n${'!'.repeat(78)}\n`,
  );
  return false;
}

/** Top-level await in a test file: `describe.skipIf(!HAS_REDIS)(...)`. */
export const HAS_REDIS = await redisAvailable();

/** A prefix no other test file (or run) shares, e.g. `test:ab12cd34:`. */
export function uniquePrefix(label = 'test'): string {
  return `${label}:${randomBytes(6).toString('hex')}:`;
}

export type TcpClient = ReturnType<typeof createClient>;

/** A plain TCP client for looking at what the stores wrote (TTL, raw values). */
export async function tcpClient(): Promise<TcpClient> {
  const client = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT } });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Deletes every key under the prefix. */
export async function deletePrefix(client: TcpClient, prefix: string): Promise<number> {
  let deleted = 0;
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    if (keys.length > 0) deleted += await client.del(keys);
  }
  return deleted;
}

/** A bridge in front of the test Redis. */
export function startBridge(overrides: { redisPort?: number } = {}): Promise<UpstashBridge> {
  return startUpstashBridge({ redisHost: REDIS_HOST, redisPort: overrides.redisPort ?? REDIS_PORT });
}

/** The environment that points the runtime at a bridge, with a key prefix. */
export function redisEnv(bridge: UpstashBridge, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    USE_REDIS: 'true',
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
    REDIS_KEY_PREFIX: prefix,
    ...extra,
  };
}
