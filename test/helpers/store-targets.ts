/** The list of stores the endpoint suites run on (memory; Redis is added by the Redis work). */
import { memoryStore, type StoreUnderTest } from './stores.ts';

export interface StoreTarget extends StoreUnderTest {
  setUp?: () => Promise<void>;
  tearDown?: () => Promise<void>;
}

export async function storesUnderTest(): Promise<StoreTarget[]> {
  return [memoryStore];
}
