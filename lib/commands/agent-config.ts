/** Agent configuration: built-in defaults merged with the overrides an operator sets per agent. */
import { ApiError } from '../http/errors.ts';
import { RESULT_MAX_BYTES } from './model.ts';
import { isObject, storableJson } from '../http/validation.ts';

export const CONFIG_DEFAULTS = {
  poll_interval_seconds: 30,
  result_max_bytes: RESULT_MAX_BYTES,
  commands_per_fetch: 10,
} as const satisfies Record<string, unknown>;

const MAX_OVERRIDES_BYTES = 16 * 1024;

/** Checks an operator's overrides: a JSON object; the known keys keep their types and ranges. */
export function configOverrides(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new ApiError('invalid_request', 'the config must be a JSON object');
  storableJson(body, 'the config');
  if (JSON.stringify(body).length > MAX_OVERRIDES_BYTES) {
    throw new ApiError('invalid_request', `the config must be at most ${MAX_OVERRIDES_BYTES} bytes of JSON`);
  }
  const positive = (key: string, max: number) => {
    const value = body[key];
    if (value !== undefined && (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max)) {
      throw new ApiError('invalid_request', `${key} must be a whole number from 1 to ${max}`);
    }
  };
  positive('poll_interval_seconds', 86400);
  positive('result_max_bytes', RESULT_MAX_BYTES);
  positive('commands_per_fetch', 100);
  return body;
}

export function mergedConfig(overrides: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...CONFIG_DEFAULTS, ...overrides };
}
