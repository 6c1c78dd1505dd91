/** Checks of what clients send; every failure is a 400 invalid_request that names the field. */
import { MAX_OVERRIDES_BYTES } from '../commands/agent-config.ts';
import { createHash } from 'node:crypto';
import { decodeCursor, InvalidCursorError, MAX_BULK_MEMBERS, type MemberChanges } from '../groups/membership.ts';
import { COMMAND_STATUSES, type CommandStatus, type Report, RESULT_MAX_BYTES } from '../commands/model.ts';
import {
  ABORT_FAILURE_TYPES,
  type AbortConfig,
  type AbortCriterion,
  JOB_STATUSES,
  type JobStatus,
  MAX_ABORT_CRITERIA,
  MAX_JOB_AGENTS,
  MAX_JOB_GROUPS,
  MAX_RETRY_ATTEMPTS,
  MAX_RETRY_CRITERIA,
  MAX_ROLLOUT_PER_MINUTE,
  RETRY_FAILURE_TYPES,
  type RetryConfig,
  MAX_SCHEDULE_AHEAD_MS,
  type JobSchedule,
  type RolloutConfig,
  SCHEDULE_END_BEHAVIORS,
  type ScheduleEndBehavior,
} from '../jobs/model.ts';
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

/** An agent id, or a name that follows its rules (a group, a job id); `field` names it in the 400. */
function idOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || !AGENT_ID.test(value)) throw bad(`${field} must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ -`);
  return value;
}

export function agentIdParam(value: string | undefined): string {
  return idOf(value, 'agentId');
}

/** Group names follow the agent id rules: the same characters, the same length. */
export function groupParam(value: string | undefined): string {
  return idOf(value, 'group');
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
  /** The report without its time, which the handler adds. */
  readonly report:
    | {
        readonly status: 'completed' | 'failed' | 'rejected';
        readonly resultJson: string | undefined;
        readonly attempt: number | undefined;
        readonly statusDetailsJson: string | undefined;
      }
    | {
        readonly status: 'in_progress';
        readonly statusDetailsJson: string | undefined;
        readonly timeoutMs: number | undefined;
        readonly attempt: number | undefined;
      };
}

/** A timeout of a command or of one step: whole seconds, up to a week. */
export const MAX_TIMEOUT_SECONDS = 7 * 24 * 3600;
export const MAX_STATUS_DETAILS = 32;
export const MAX_STATUS_DETAIL_CHARS = 1024;
export const MAX_STATUS_DETAIL_NAME_CHARS = 128;
export const MAX_CANCEL_REASON_CHARS = 256;

function wholeNumber(value: unknown, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw bad(`${field} must be a whole number from ${min} to ${max}`);
  }
  return value as number;
}

function timeoutSeconds(value: unknown, field: string): number | undefined {
  return value === undefined ? undefined : wholeNumber(value, field, 1, MAX_TIMEOUT_SECONDS);
}

function statusDetails(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw bad('status_details must be a JSON object of strings');
  const entries = Object.entries(value);
  if (entries.length > MAX_STATUS_DETAILS) throw bad(`status_details may hold at most ${MAX_STATUS_DETAILS} values`);
  for (const [name, detail] of entries) {
    if (name.length < 1 || name.length > MAX_STATUS_DETAIL_NAME_CHARS || !name.isWellFormed()) {
      throw bad(`status_details names must be 1 to ${MAX_STATUS_DETAIL_NAME_CHARS} characters`);
    }
    if (typeof detail !== 'string') throw bad(`status_details.${name} must be a string`);
    if (detail.length > MAX_STATUS_DETAIL_CHARS || !detail.isWellFormed()) {
      throw bad(`status_details.${name} must be at most ${MAX_STATUS_DETAIL_CHARS} characters`);
    }
  }
  return JSON.stringify(value);
}

const RESULT_STATUSES = ['completed', 'failed', 'rejected'] as const;

/**
 * A final result (completed, failed, rejected) or a progress update (in_progress). The result is
 * kept as the JSON text the agent sent (`raw`, the request body), not a re-serialisation, so it
 * reads back byte for byte (large integers included), and that text is what the
 * RESULT_MAX_BYTES limit bounds.
 */
export function resultInput(body: unknown, raw: string | undefined): ResultInput {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  onlyKeys(body, ['command_id', 'status', 'result', 'status_details', 'timeout_seconds', 'attempt']);
  if (typeof body.command_id !== 'string' || !COMMAND_ID.test(body.command_id)) {
    throw bad('command_id must be a string of 1 to 128 characters');
  }
  const commandId = body.command_id;
  // The attempt reported on (a job's execution retried: lib/jobs/rules.ts); absent: the current one.
  const attempt = body.attempt === undefined ? undefined : wholeNumber(body.attempt, 'attempt', 1, MAX_RETRY_ATTEMPTS);
  if (body.status === 'in_progress') {
    if (body.result !== undefined) throw bad('result goes with a final status (completed, failed or rejected), not with in_progress');
    const step = timeoutSeconds(body.timeout_seconds, 'timeout_seconds');
    return {
      commandId,
      report: {
        status: 'in_progress',
        statusDetailsJson: statusDetails(body.status_details),
        timeoutMs: step === undefined ? undefined : step * 1000,
        attempt,
      },
    };
  }
  const status = RESULT_STATUSES.find((candidate) => candidate === body.status);
  if (status === undefined) throw bad('status must be "in_progress", "completed", "failed" or "rejected"');
  if (body.timeout_seconds !== undefined) throw bad('timeout_seconds goes with "in_progress" only');
  let resultJson: string | undefined;
  if (body.result !== undefined) {
    storableJson(body.result, 'result');
    resultJson = (raw === undefined ? undefined : topLevelMember(raw, 'result')) ?? JSON.stringify(body.result);
    if (Buffer.byteLength(resultJson, 'utf8') > RESULT_MAX_BYTES) throw bad(`result must be at most ${RESULT_MAX_BYTES} bytes of JSON`);
  }
  // status_details may come with a result too: why it failed, or why the agent rejected it.
  return { commandId, report: { status, resultJson, attempt, statusDetailsJson: statusDetails(body.status_details) } };
}

/** The report with its time. */
export function reportAt(input: ResultInput, at: number): Report {
  return input.report.status === 'in_progress' ? { ...input.report, at } : { ...input.report, completedAt: at };
}

export interface CommandInput {
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly ttlSeconds: number | undefined;
  readonly timeoutSeconds: number | undefined;
}

export const MAX_TTL_SECONDS = 30 * 24 * 3600;

/** The command, its args and its times, as an enqueue and a job take them. */
function commandFields(body: Record<string, unknown>): CommandInput {
  if (typeof body.command !== 'string' || body.command.length < 1 || body.command.length > 128) {
    throw bad('command must be a string of 1 to 128 characters');
  }
  if (body.args !== undefined) {
    if (!isObject(body.args)) throw bad('args must be a JSON object');
    storableJson(body.args, 'args');
  }
  const ttl = body.ttl_seconds;
  return {
    command: body.command,
    args: (body.args as Record<string, unknown> | undefined) ?? {},
    ttlSeconds: ttl === undefined ? undefined : wholeNumber(ttl, 'ttl_seconds', 1, MAX_TTL_SECONDS),
    timeoutSeconds: timeoutSeconds(body.timeout_seconds, 'timeout_seconds'),
  };
}

export function commandInput(body: unknown): CommandInput {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  onlyKeys(body, ['command', 'args', 'ttl_seconds', 'timeout_seconds']);
  return commandFields(body);
}

/** The value with object members in sorted order, arrays as they are. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isObject(value))
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical(value[key])]),
    );
  return value;
}

const digest = (value: unknown) =>
  createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('base64url');

/**
 * What makes two enqueues "the same request" for an Idempotency-Key: the agent and the checked
 * input, with object members in sorted order (so member order and white space do not count).
 */
export function commandFingerprint(agentId: string, input: CommandInput): string {
  return digest({ agentId, ...input });
}

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

/** The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): 1 to 255 printable ASCII characters. */
export function idempotencyKeyHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Accepted bare or as the draft's Structured Field string ("...").
  const key = /^"[^"\\]*"$/.test(value) ? value.slice(1, -1) : value;
  if (!IDEMPOTENCY_KEY.test(key)) throw bad('Idempotency-Key must be 1 to 255 printable ASCII characters');
  return key;
}

function cancelReason(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > MAX_CANCEL_REASON_CHARS || !value.isWellFormed()) {
    throw bad(`reason must be a string of at most ${MAX_CANCEL_REASON_CHARS} characters`);
  }
  return value;
}

/** The optional body of a cancel: `{"reason": string of at most 256 characters}`. */
export function cancelInput(body: unknown): { reason: string | undefined } {
  if (body === undefined) return { reason: undefined };
  if (!isObject(body)) throw bad('the body must be a JSON object');
  onlyKeys(body, ['reason']);
  return { reason: cancelReason(body.reason) };
}

/** The optional body of a job's pause or resume: `{"reason"?: as a command's cancel}`. */
export function pauseInput(body: unknown): { reason: string | undefined } {
  return cancelInput(body);
}

/** The optional body of a job's cancel: `{"reason"?: as a command's cancel, "force"?: boolean}` (force: false when absent). */
export function jobCancelInput(body: unknown): { reason: string | undefined; force: boolean } {
  if (body === undefined) return { reason: undefined, force: false };
  if (!isObject(body)) throw bad('the body must be a JSON object');
  onlyKeys(body, ['reason', 'force']);
  if (body.force !== undefined && typeof body.force !== 'boolean') throw bad('force must be true or false');
  return { reason: cancelReason(body.reason), force: body.force === true };
}

/** `?status=a,b` of the given names: each known, each once. */
function namesParam<T extends string>(value: string | undefined, known: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  const found: T[] = [];
  for (const name of value.split(',')) {
    const status = known.find((candidate) => candidate === name);
    if (status === undefined) throw bad(`status must be a comma-separated list of: ${known.join(', ')}`);
    if (!found.includes(status)) found.push(status);
  }
  return found;
}

/** `?status=a,b`: known statuses, each once. */
export function statusFilterParam(value: string | undefined): CommandStatus[] | undefined {
  return namesParam(value, COMMAND_STATUSES);
}

/** `?status=a,b` of jobs: scheduled, in_progress, paused, completed, canceled, aborted, each once. */
export function jobStatusFilterParam(value: string | undefined): JobStatus[] | undefined {
  return namesParam(value, JOB_STATUSES);
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
  positive('push_poll_interval_seconds', 86400);
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

// --- Jobs ----------------------------------------------------------------------------------------

/** Job ids in paths follow the agent id rules (the service makes UUIDs, which fit them). */
export function jobIdParam(value: string | undefined): string {
  return idOf(value, 'jobId');
}

export const MAX_JOB_DESCRIPTION_CHARS = 256;
export const MAX_EXPONENTIAL_BASE_PER_MINUTE = 1000;
export const MAX_INCREASE_AFTER = 100_000;
export const MAX_ABORT_MIN_EXECUTED = 100_000;

export interface JobInput extends CommandInput {
  /** Each id once, in the order first given. */
  readonly agents: readonly string[];
  readonly groups: readonly string[];
  readonly continuous: boolean;
  readonly rollout: RolloutConfig | undefined;
  readonly abort: AbortConfig | undefined;
  readonly schedule: JobSchedule | undefined;
  readonly retry: RetryConfig | undefined;
  readonly description: string | undefined;
}

/** A list of ids (agent ids or group names), at most `max`; duplicates are dropped, the first place kept. */
function idList(value: unknown, field: string, max: number, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw bad(`${field} must be an array of ${what}`);
  if (value.length > max) throw bad(`${field} may hold at most ${max} ${what}`);
  return [...new Set(value.map((id: unknown, i) => idOf(id, `${field}[${i}]`)))];
}

/**
 * POST /api/jobs: the command as an enqueue takes it, its targets (at most MAX_JOB_AGENTS agent
 * ids and MAX_JOB_GROUPS group names, at least one of either; duplicates allowed, each counted
 * once), and the job's options. Unknown members are refused at every level.
 */
export function jobInput(body: unknown, now: number): JobInput {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  onlyKeys(body, [
    'command',
    'args',
    'targets',
    'ttl_seconds',
    'timeout_seconds',
    'continuous',
    'rollout',
    'abort',
    'schedule',
    'retry',
    'description',
  ]);
  const command = commandFields(body);
  if (!isObject(body.targets)) throw bad('targets must be a JSON object with agents and/or groups');
  onlyKeys(body.targets, ['agents', 'groups']);
  const agents = idList(body.targets.agents, 'targets.agents', MAX_JOB_AGENTS, 'agent ids');
  const groups = idList(body.targets.groups, 'targets.groups', MAX_JOB_GROUPS, 'group names');
  if (agents.length + groups.length === 0) throw bad('targets must name at least one agent or group');
  if (body.continuous !== undefined && typeof body.continuous !== 'boolean') throw bad('continuous must be true or false');
  const rollout = body.rollout === undefined ? undefined : rolloutInput(body.rollout);
  const abort = body.abort === undefined ? undefined : abortInput(body.abort);
  const schedule = body.schedule === undefined ? undefined : scheduleInput(body.schedule, now);
  const retry = body.retry === undefined ? undefined : retryInput(body.retry);
  const { description } = body;
  if (
    description !== undefined &&
    (typeof description !== 'string' || description.length > MAX_JOB_DESCRIPTION_CHARS || !description.isWellFormed())
  ) {
    throw bad(`description must be a string of at most ${MAX_JOB_DESCRIPTION_CHARS} characters`);
  }
  return {
    ...command,
    agents,
    groups,
    continuous: body.continuous === true,
    rollout,
    abort,
    schedule,
    retry,
    description: description as string | undefined,
  };
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 time with its offset (`Z` or ±hh:mm), as epoch ms. */
function isoTime(value: unknown, field: string): number {
  const at = typeof value === 'string' && ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(at)) throw bad(`${field} must be an ISO 8601 time with its offset, such as 2027-01-31T22:00:00Z`);
  return at;
}

/**
 * A job's `schedule`: `start_at` (at most a year after `now`), `end_at` (after start_at) and
 * `end_behavior` (stop_rollout when absent; only with end_at).
 */
function scheduleInput(value: unknown, now: number): JobSchedule {
  if (!isObject(value)) throw bad('schedule must be a JSON object with start_at');
  onlyKeys(value, ['start_at', 'end_at', 'end_behavior']);
  const startAt = isoTime(value.start_at, 'schedule.start_at');
  if (startAt > now + MAX_SCHEDULE_AHEAD_MS) throw bad('schedule.start_at must be at most one year ahead');
  const endAt = value.end_at === undefined ? undefined : isoTime(value.end_at, 'schedule.end_at');
  if (endAt !== undefined && endAt <= startAt) throw bad('schedule.end_at must be after schedule.start_at');
  let endBehavior: ScheduleEndBehavior = 'stop_rollout';
  if (value.end_behavior !== undefined) {
    const found = SCHEDULE_END_BEHAVIORS.find((behavior) => behavior === value.end_behavior);
    if (found === undefined) throw bad(`schedule.end_behavior must be one of: ${SCHEDULE_END_BEHAVIORS.join(', ')}`);
    if (endAt === undefined) throw bad('schedule.end_behavior goes with schedule.end_at');
    endBehavior = found;
  }
  return { startAt, ...(endAt === undefined ? {} : { endAt }), endBehavior };
}

/**
 * A job's `rollout`: `max_per_minute`, `exponential` ({base_per_minute, increment_factor (1.1 to
 * 5.0, one decimal place), increase_after: {notified: N} or {succeeded: N}}), or both (the
 * exponential rate capped by max_per_minute).
 */
function rolloutInput(value: unknown): RolloutConfig {
  if (!isObject(value)) throw bad('rollout must be a JSON object with max_per_minute, exponential or both');
  onlyKeys(value, ['max_per_minute', 'exponential']);
  if (value.max_per_minute === undefined && value.exponential === undefined) {
    throw bad('rollout.max_per_minute must be a whole number from 1 to 100000');
  }
  const maxPerMinute =
    value.max_per_minute === undefined ? undefined : wholeNumber(value.max_per_minute, 'rollout.max_per_minute', 1, MAX_ROLLOUT_PER_MINUTE);
  if (value.exponential === undefined) return { maxPerMinute };
  const exponential = value.exponential;
  if (!isObject(exponential)) {
    throw bad('rollout.exponential must be a JSON object with base_per_minute, increment_factor and increase_after');
  }
  onlyKeys(exponential, ['base_per_minute', 'increment_factor', 'increase_after']);
  const basePerMinute = wholeNumber(exponential.base_per_minute, 'rollout.exponential.base_per_minute', 1, MAX_EXPONENTIAL_BASE_PER_MINUTE);
  const factor = exponential.increment_factor;
  const tenths = typeof factor === 'number' ? Math.round(factor * 10) : Number.NaN;
  if (typeof factor !== 'number' || Math.abs(factor * 10 - tenths) > 1e-9 || tenths < 11 || tenths > 50) {
    throw bad('rollout.exponential.increment_factor must be a number from 1.1 to 5.0 with one decimal place');
  }
  const after = exponential.increase_after;
  const kinds = isObject(after) ? Object.keys(after) : [];
  const kind = kinds[0];
  if (!isObject(after) || kinds.length !== 1 || (kind !== 'notified' && kind !== 'succeeded')) {
    throw bad('rollout.exponential.increase_after must be {"notified": N} or {"succeeded": N}');
  }
  const count = wholeNumber(after[kind], `rollout.exponential.increase_after.${kind}`, 1, MAX_INCREASE_AFTER);
  return {
    ...(maxPerMinute === undefined ? {} : { maxPerMinute }),
    exponential: { basePerMinute, incrementFactorTenths: tenths, increaseAfter: { kind, count } },
  };
}

/**
 * A job's `abort`: `{"criteria": [{failure_type, threshold_percent, min_executed}, ...]}` (1 to
 * MAX_ABORT_CRITERIA), or the older `{failure_threshold_percent, min_executed}`, one criterion of
 * type `all`.
 */
function abortInput(value: unknown): AbortConfig {
  if (!isObject(value)) throw bad('abort must be a JSON object with criteria, or with failure_threshold_percent and min_executed');
  if (value.criteria === undefined) {
    onlyKeys(value, ['failure_threshold_percent', 'min_executed']);
    const thresholdPercent = wholeNumber(value.failure_threshold_percent, 'abort.failure_threshold_percent', 1, 100);
    const minExecuted = wholeNumber(value.min_executed, 'abort.min_executed', 1, MAX_ABORT_MIN_EXECUTED);
    return { criteria: [{ failureType: 'all', thresholdPercent, minExecuted }] };
  }
  onlyKeys(value, ['criteria']);
  const { criteria } = value;
  if (!Array.isArray(criteria) || criteria.length < 1 || criteria.length > MAX_ABORT_CRITERIA) {
    throw bad(`abort.criteria must be an array of 1 to ${MAX_ABORT_CRITERIA} criteria`);
  }
  return {
    criteria: criteria.map((criterion: unknown, i): AbortCriterion => {
      const field = `abort.criteria[${i}]`;
      if (!isObject(criterion)) throw bad(`${field} must be a JSON object with failure_type, threshold_percent and min_executed`);
      onlyKeys(criterion, ['failure_type', 'threshold_percent', 'min_executed']);
      const failureType = ABORT_FAILURE_TYPES.find((type) => type === criterion.failure_type);
      if (failureType === undefined) throw bad(`${field}.failure_type must be one of: ${ABORT_FAILURE_TYPES.join(', ')}`);
      return {
        failureType,
        thresholdPercent: wholeNumber(criterion.threshold_percent, `${field}.threshold_percent`, 1, 100),
        minExecuted: wholeNumber(criterion.min_executed, `${field}.min_executed`, 1, MAX_ABORT_MIN_EXECUTED),
      };
    }),
  };
}

/**
 * A job's `retry`: `{"criteria": [{failure_type, max_attempts}, ...]}`, 1 to MAX_RETRY_CRITERIA
 * criteria of different failure types (failed, timed_out, all); max_attempts counts every attempt,
 * the first included (1..MAX_RETRY_ATTEMPTS).
 */
function retryInput(value: unknown): RetryConfig {
  if (!isObject(value)) throw bad('retry must be a JSON object with criteria');
  onlyKeys(value, ['criteria']);
  const { criteria } = value;
  if (!Array.isArray(criteria) || criteria.length < 1 || criteria.length > MAX_RETRY_CRITERIA) {
    throw bad(`retry.criteria must be an array of 1 to ${MAX_RETRY_CRITERIA} criteria`);
  }
  const seen = new Set<string>();
  return {
    criteria: criteria.map((criterion: unknown, i) => {
      const field = `retry.criteria[${i}]`;
      if (!isObject(criterion)) throw bad(`${field} must be a JSON object with failure_type and max_attempts`);
      onlyKeys(criterion, ['failure_type', 'max_attempts']);
      const failureType = RETRY_FAILURE_TYPES.find((type) => type === criterion.failure_type);
      if (failureType === undefined) throw bad(`${field}.failure_type must be one of: ${RETRY_FAILURE_TYPES.join(', ')}`);
      if (seen.has(failureType)) throw bad(`${field}.failure_type ${failureType} is named twice`);
      seen.add(failureType);
      return { failureType, maxAttempts: wholeNumber(criterion.max_attempts, `${field}.max_attempts`, 1, MAX_RETRY_ATTEMPTS) };
    }),
  };
}

/**
 * What makes two job creations "the same request" for an Idempotency-Key: the checked input
 * (targets each once, in the order first given), object members sorted, so member order and
 * white space do not count. Its `kind` keeps it apart from any enqueue's fingerprint.
 */
/**
 * POST /api/groups/{group}/members: `add` and `remove`, each an optional array of agent ids (the
 * rules of a single join's), at least one id and at most MAX_BULK_MEMBERS together as sent;
 * duplicates within a list count once; an id in both lists is refused (which should win?).
 */
export function memberChangesInput(body: unknown): MemberChanges {
  if (!isObject(body)) throw bad('the body must be a JSON object with add and/or remove');
  onlyKeys(body, ['add', 'remove']);
  for (const field of ['add', 'remove'] as const) {
    if (body[field] !== undefined && !Array.isArray(body[field])) throw bad(`${field} must be an array of agent ids`);
  }
  const sent = ((body.add as unknown[] | undefined)?.length ?? 0) + ((body.remove as unknown[] | undefined)?.length ?? 0);
  if (sent === 0) throw bad('add and remove must name at least one agent id between them');
  if (sent > MAX_BULK_MEMBERS) throw bad(`add and remove may name at most ${MAX_BULK_MEMBERS} agent ids together`);
  const add = idList(body.add, 'add', MAX_BULK_MEMBERS, 'agent ids');
  const remove = idList(body.remove, 'remove', MAX_BULK_MEMBERS, 'agent ids');
  const removing = new Set(remove);
  const both = add.find((id) => removing.has(id));
  if (both !== undefined) throw bad(`${both} is in both add and remove`);
  return { add, remove };
}

/** POST /api/jobs?dry_run=: `true` asks for a dry run, `false` or none for the create. */
export function dryRunParam(value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw bad('dry_run must be true or false');
}

export function jobFingerprint(input: JobInput): string {
  return digest({ kind: 'job', ...input });
}
