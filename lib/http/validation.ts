/** Checks of what clients send; every failure is a 400 invalid_request that names the field. */
import { MAX_OVERRIDES_BYTES } from '../commands/agent-config.ts';
import { decodeCursor, InvalidCursorError } from '../groups/membership.ts';
import { RESULT_MAX_BYTES, type ResultStatus } from '../commands/model.ts';
import { MAX_ID_LENGTH, MAX_TOKEN_BYTES } from '../auth/verifier.ts';
import { topLevelMember } from '../json-text.ts';
import { badRequest as bad } from './errors.ts';

const AGENT_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const COMMAND_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const MAX_JSON_DEPTH = 64;

/**
 * A JSON value that can be stored and read back unchanged: no number beyond the double range
 * (JSON.parse makes 1e400 Infinity, which would be stored as null) and at most MAX_JSON_DEPTH deep.
 */
export function storableJson(value: unknown, field: string): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item === 'number' && !Number.isFinite(item)) throw bad(`${field} holds a number JSON cannot carry`);
    if (typeof item === 'string' && !item.isWellFormed()) throw bad(`${field} holds a string that is not well-formed Unicode`);
    if (typeof item === 'object' && item !== null) {
      if (depth > MAX_JSON_DEPTH) throw bad(`${field} is nested deeper than ${MAX_JSON_DEPTH} levels`);
      for (const [name, child] of Object.entries(item)) {
        if (!name.isWellFormed()) throw bad(`${field} holds a name that is not well-formed Unicode`);
        stack.push([child, depth + 1]);
      }
    }
  }
}

function onlyKeys(body: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(body).filter((key) => !allowed.includes(key));
  if (extra.length > 0) throw bad(`unknown field: ${extra[0]}`);
}

export function agentIdParam(value: string | undefined): string {
  if (value === undefined || !AGENT_ID.test(value)) {
    throw bad('agentId must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ -');
  }
  return value;
}

/** Group names follow the agent id rules: the same characters, the same length. */
export function groupParam(value: string | undefined): string {
  if (value === undefined || !AGENT_ID.test(value)) {
    throw bad('group must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ -');
  }
  return value;
}

export function commandIdParam(value: string | undefined): string {
  if (value === undefined || !COMMAND_ID.test(value)) throw bad('commandId is not valid');
  return value;
}

export function limitParam(value: string | undefined, fallback = 10, max = 100): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw bad(`limit must be a whole number from 1 to ${max}`);
  }
  return Number(value);
}

/** A page cursor as the service gave it (`next_cursor`); absent: from the start (position 0). */
export function cursorParam(value: string | undefined): number {
  if (value === undefined) return 0;
  try {
    return decodeCursor(value);
  } catch (error) {
    if (error instanceof InvalidCursorError) throw bad('cursor must be a next_cursor this service gave');
    throw error;
  }
}

export interface ResultInput {
  readonly commandId: string;
  readonly status: ResultStatus;
  readonly resultJson: string | undefined;
}

/**
 * The result is kept as the JSON text the agent sent (`raw`, the request body), not a
 * re-serialisation, so it reads back byte for byte (large integers included), and that text is
 * what the RESULT_MAX_BYTES limit bounds.
 */
export function resultInput(body: unknown, raw: string | undefined): ResultInput {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  onlyKeys(body, ['command_id', 'status', 'result']);
  if (typeof body.command_id !== 'string' || !COMMAND_ID.test(body.command_id)) {
    throw bad('command_id must be a string of 1 to 128 characters');
  }
  if (body.status !== 'completed' && body.status !== 'failed') throw bad('status must be "completed" or "failed"');
  let resultJson: string | undefined;
  if (body.result !== undefined) {
    storableJson(body.result, 'result');
    resultJson = (raw === undefined ? undefined : topLevelMember(raw, 'result')) ?? JSON.stringify(body.result);
    if (Buffer.byteLength(resultJson, 'utf8') > RESULT_MAX_BYTES) throw bad(`result must be at most ${RESULT_MAX_BYTES} bytes of JSON`);
  }
  return { commandId: body.command_id, status: body.status, resultJson };
}

export interface CommandInput {
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly ttlSeconds: number | undefined;
}

export const MAX_TTL_SECONDS = 30 * 24 * 3600;

export function commandInput(body: unknown): CommandInput {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  onlyKeys(body, ['command', 'args', 'ttl_seconds']);
  if (typeof body.command !== 'string' || body.command.length < 1 || body.command.length > 128) {
    throw bad('command must be a string of 1 to 128 characters');
  }
  if (body.args !== undefined) {
    if (!isObject(body.args)) throw bad('args must be a JSON object');
    storableJson(body.args, 'args');
  }
  const ttl = body.ttl_seconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || (ttl as number) < 1 || (ttl as number) > MAX_TTL_SECONDS)) {
    throw bad(`ttl_seconds must be a whole number from 1 to ${MAX_TTL_SECONDS}`);
  }
  return { command: body.command, args: (body.args as Record<string, unknown> | undefined) ?? {}, ttlSeconds: ttl as number | undefined };
}

const MAX_EPOCH_SECONDS = 253_402_300_799;

/** Checks an operator's overrides: a JSON object; the known keys keep their types and ranges. */
export function configOverrides(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw bad('the config must be a JSON object');
  storableJson(body, 'the config');
  if (JSON.stringify(body).length > MAX_OVERRIDES_BYTES) {
    throw bad(`the config must be at most ${MAX_OVERRIDES_BYTES} bytes of JSON`);
  }
  const positive = (key: string, max: number) => {
    const value = body[key];
    if (value !== undefined && (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max)) {
      throw bad(`${key} must be a whole number from 1 to ${max}`);
    }
  };
  positive('poll_interval_seconds', 86400);
  positive('result_max_bytes', RESULT_MAX_BYTES);
  positive('commands_per_fetch', 100);
  return body;
}

export type RevocationInput = { readonly jti: string; readonly exp: number } | { readonly sub: string } | { readonly token: string };

/**
 * One token by `jti` and its `exp` (which must not have passed: a revocation that ends before it
 * starts would answer 204 and revoke nothing), one token given whole (`token`: its own jti and
 * exp are used, so nothing is taken on trust), or every token of a subject so far (`sub`).
 */
export function revocationInput(body: unknown, nowSeconds: number): RevocationInput {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  if (body.sub !== undefined) {
    onlyKeys(body, ['sub']);
    if (typeof body.sub !== 'string' || body.sub === '' || body.sub.length > MAX_ID_LENGTH) {
      throw bad(`sub must be a string of 1 to ${MAX_ID_LENGTH} characters`);
    }
    return { sub: body.sub };
  }
  if (body.token !== undefined) {
    onlyKeys(body, ['token']);
    if (typeof body.token !== 'string' || body.token === '' || body.token.length > MAX_TOKEN_BYTES) {
      throw bad(`token must be a compact JWT of at most ${MAX_TOKEN_BYTES} characters`);
    }
    return { token: body.token };
  }
  onlyKeys(body, ['jti', 'exp']);
  if (typeof body.jti !== 'string' || body.jti === '' || body.jti.length > MAX_ID_LENGTH) {
    throw bad(`give jti (1 to ${MAX_ID_LENGTH} characters) with exp, or token, or sub`);
  }
  // Up to the year 9999: a larger value is no token's expiry, and would outlive any key TTL.
  if (!Number.isInteger(body.exp) || (body.exp as number) <= 0 || (body.exp as number) > MAX_EPOCH_SECONDS) {
    throw bad("exp must be the token's expiry in epoch seconds");
  }
  if ((body.exp as number) <= nowSeconds) {
    throw bad("exp has passed: a token with that exp can no longer be used; give the token's real exp, or the token itself");
  }
  return { jti: body.jti, exp: body.exp as number };
}
