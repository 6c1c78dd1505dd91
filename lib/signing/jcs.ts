/**
 * The canonical JSON of a command's args, and its SHA-256: the `args_sha256` a signed command
 * carries. The canonical form is RFC 8785, the JSON Canonicalization Scheme (JCS): no whitespace,
 * object members sorted by their names' UTF-16 code units, strings and numbers written as
 * ECMAScript's JSON.stringify writes them (shortest round-trip numbers, `1e+30`, `-0` as `0`).
 * Args come from JSON text, so they hold only JSON values; anything else is refused.
 */
import { createHash } from 'node:crypto';

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/** `value` in RFC 8785 canonical form. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CanonicalJsonError('a number that JSON cannot hold (NaN or Infinity)');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    // Array.prototype.sort without a comparator orders by UTF-16 code units, as RFC 8785 §3.2.3 asks.
    const names = Object.keys(value).sort();
    const record = value as Record<string, unknown>;
    return `{${names.map((name) => `${JSON.stringify(name)}:${canonicalJson(record[name])}`).join(',')}}`;
  }
  throw new CanonicalJsonError(`a ${typeof value} is not a JSON value`);
}

/** SHA-256 over the UTF-8 of the args' canonical JSON, in lowercase hex (what `sha256sum` prints). */
export function argsSha256(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args), 'utf8').digest('hex');
}
