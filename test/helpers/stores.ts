/**
 * The stores the behavioural suites run against: in-memory always; real Redis through the
 * local Upstash bridge and the real @upstash/redis client when a Redis server answers.
 */
import type { Runtime } from '../../lib/runtime.ts';
import type { ManualClock } from '../../lib/clock.ts';
import { useTestRuntime } from './runtime.ts';

export interface StoreUnderTest {
  readonly name: string;
  /** Installs a fresh runtime on this store, with a clock the test may move. */
  use(env?: Record<string, string>): Promise<Runtime & { clock: ManualClock }>;
}

export const memoryStore: StoreUnderTest = {
  name: 'memory',
  use: async (env = {}) => useTestRuntime(env),
};
