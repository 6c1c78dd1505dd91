/** A fresh runtime for a test: in-memory by default, with a clock the test can move. */
import { ManualClock } from '../../lib/clock.ts';
import { loadConfig } from '../../lib/config.ts';
import { createRuntime, createStoreBackend, type Runtime, type RuntimeParts, setRuntime } from '../../lib/runtime.ts';
import type { StoreBackend } from '../../lib/store/types.ts';
import { TEST_ENV } from './tokens.ts';

export function useTestRuntime(env: Record<string, string> = {}, parts: RuntimeParts = {}): Runtime & { clock: ManualClock } {
  const clock = parts.clock instanceof ManualClock ? parts.clock : new ManualClock(Date.now());
  const config = loadConfig({ ...TEST_ENV, ...env });
  return setRuntime(createRuntime(config, { ...parts, clock })) as Runtime & { clock: ManualClock };
}

/**
 * The in-memory backend a test runtime gets by default, its revocations on the wall clock, for a
 * test to wrap or replace parts of and hand to useTestRuntime as `stores`:
 *
 *   const stores = memoryTestBackend();
 *   useTestRuntime({}, { stores: { ...stores, commands: { ...stores.commands, get: broken } } });
 */
export function memoryTestBackend(env: Record<string, string> = {}): StoreBackend {
  return createStoreBackend(loadConfig({ ...TEST_ENV, ...env }));
}
