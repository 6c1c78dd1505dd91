/**
 * The stores the endpoint suites run on: in-memory always; real Redis through the local
 * Upstash bridge and the real @upstash/redis client when Redis answers (under CI=true, always).
 */
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import { deletePrefix, HAS_REDIS, redisEnv, startBridge, type TcpClient, tcpClient, uniquePrefix } from './redis.ts';
import { useTestRuntime } from './runtime.ts';
import { memoryStore, type StoreUnderTest } from './stores.ts';

export interface StoreTarget extends StoreUnderTest {
  setUp?: () => Promise<void>;
  tearDown?: () => Promise<void>;
}

function redisStore(): StoreTarget {
  let bridge: UpstashBridge | undefined;
  let client: TcpClient | undefined;
  const prefix = uniquePrefix('endpoints');
  return {
    name: 'redis',
    setUp: async () => {
      bridge = await startBridge();
      client = await tcpClient();
    },
    tearDown: async () => {
      if (client) {
        await deletePrefix(client, prefix);
        client.destroy();
      }
      await bridge?.close();
    },
    use: async (env = {}) => {
      if (!bridge) throw new Error('the Redis target was not set up');
      return useTestRuntime(redisEnv(bridge, prefix, env));
    },
  };
}

export async function storesUnderTest(): Promise<StoreTarget[]> {
  return HAS_REDIS ? [memoryStore, redisStore()] : [memoryStore];
}
