/** Agent configuration: built-in defaults merged with the overrides an operator sets per agent. */
import { RESULT_MAX_BYTES } from './model.ts';

export const CONFIG_DEFAULTS = {
  poll_interval_seconds: 30,
  result_max_bytes: RESULT_MAX_BYTES,
  commands_per_fetch: 10,
  /** The safety poll of an agent on the push channel (docs/push.md): it polls this often anyway. */
  push_poll_interval_seconds: 900,
} as const satisfies Record<string, unknown>;

/** The largest config override document, in bytes of JSON. */
export const MAX_OVERRIDES_BYTES = 16 * 1024;

export function mergedConfig(overrides: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...CONFIG_DEFAULTS, ...overrides };
}
