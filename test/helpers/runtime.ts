/** A fresh runtime for a test: in-memory by default, with a clock the test can move. */
import { ManualClock } from '../../lib/clock.ts';
import { loadConfig } from '../../lib/config.ts';
import { createRuntime, type Runtime, type RuntimeParts, setRuntime } from '../../lib/runtime.ts';
import { TEST_ENV } from './tokens.ts';

export function useTestRuntime(env: Record<string, string> = {}, parts: RuntimeParts = {}): Runtime & { clock: ManualClock } {
  const clock = parts.clock instanceof ManualClock ? parts.clock : new ManualClock(Date.now());
  const config = loadConfig({ ...TEST_ENV, ...env });
  return setRuntime(createRuntime(config, { ...parts, clock })) as Runtime & { clock: ManualClock };
}
