/**
 * Upstash Redis implementations of the store interfaces, with the same behaviour as the
 * in-memory store (lib/store/memory.ts). One `@upstash/redis` client per process, shared by the
 * four stores (commands, revocations, groups, jobs: one key space, since a poll makes a job's
 * executions and a join adds a continuous job's targets); every store method a request calls is one Lua script run with EVALSHA, so one HTTP
 * round trip, and every multi-step change is atomic on the server. With an Admission the script
 * is the action behind the gate (lib/store/scripts.ts gated): revocation decision, rate limit,
 * then the action, so a request costs one Upstash command whatever is configured.
 *
 * The key layout is KEY_LAYOUT in lib/store/keys.ts, shown as a table in docs/architecture.md.
 *
 * Key locking (Upstash's allow-key-locking): every script declares the keys it touches, the gate's
 * five (cut-off, denylist entry, registration, this and the previous window's counter) and the
 * action's, and is sent with the flag, except those that read keys they learn while running:
 * FETCH and LIST read <p>cmd:<agent>:<commandId> for each id that <p>queue:<agent> or
 * <p>log:<agent> holds (and FETCH the keys of every job of the agent's groups and agent-jobs),
 * ENQUEUE and JOB_CREATE with an idempotency key read what that key made, JOB_CREATE reads the
 * groups it names and writes their group-jobs, JOB_LIST reads the job of each listing entry,
 * JOB_EXECUTIONS the execution of each target, GROUP_JOIN and GROUP_LEAVE the jobs of the group.
 * Those run under Upstash's global lock (no other command runs while they do). COMPLETE, CANCEL
 * and GET_COMMAND declare the keys of the job a command may be the execution of from its id
 * (commandId = jobId; for a plain command they do not exist), JOB_GET and JOB_CANCEL the job's
 * own, so these keep the flag. Declaring the command hashes of FETCH and LIST needs every command
 * of an agent in one hash of that agent (fields <commandId>:<field>), with a sorted set of when
 * each is gone.
 *
 * The rules are not written here: the scripts (lib/store/scripts.ts) mirror
 * lib/commands/lifecycle.ts, lib/auth/revocation.ts, lib/store/ratelimit.ts,
 * lib/groups/membership.ts and lib/jobs/rules.ts.
 *
 * Times passed to the stores (now, createdAt, completedAt) come from the runtime's clock, and
 * the Lua scripts decide with them, never with Redis's own clock, exactly like the in-memory
 * store. TTLs are set as absolute times from the same values.
 *
 * Every failure of the client (network, timeout, HTTP status, Redis error) becomes a
 * StoreUnavailableError with the Redis error alone as its cause (redisFailure: never the
 * command's arguments): the edge answers 503, and a revocation check that cannot be made never
 * reads as "not revoked".
 */
import { randomUUID } from 'node:crypto';
import { Redis } from '@upstash/redis';
import { DpopProofError, TokenError } from '../auth/errors.ts';
import { cutoffSeconds, type RevocationMode, type TokenIdentity } from '../auth/revocation.ts';
import type { HistoryEntry } from '../commands/history.ts';
import { created, goneAt, idempotentUntil, PAGE_BUDGET, reportedAt, type Transition } from '../commands/lifecycle.ts';
import {
  type Cancellation,
  COMMAND_STATUSES,
  type CommandRecord,
  type CommandStatus,
  type EnqueueOutcome,
  type IdempotentRequest,
  type ListPage,
  type ListQuery,
  type NewCommand,
  type Outcome,
  type Report,
  type WrittenStatus,
} from '../commands/model.ts';
import { type Config, ConfigError } from '../config.ts';
import {
  type BulkOutcome,
  type JoinOutcome,
  type LeaveOutcome,
  MAX_GROUPS_PER_AGENT,
  type MemberChanges,
  type MemberPage,
  memberPage,
  sortedGroups,
} from '../groups/membership.ts';
import {
  type AbortConfig,
  type AbortCriterion,
  type RetryCriterion,
  type CancelJobOutcome,
  type CreateJobOutcome,
  DRY_RUN_EXACT_TARGETS,
  type DryRunOutcome,
  type ExecutionDetail,
  type ExponentialRollout,
  type ExecutionEntry,
  type ExecutionPage,
  type ExecutionQuery,
  JOB_STATUSES,
  type JobCancellation,
  type JobCounts,
  type JobEnd,
  type JobListPage,
  type JobListQuery,
  type JobPause,
  type JobPauseChange,
  type JobSchedule,
  type JobSnapshot,
  type JobSpec,
  type JobState,
  type JobTally,
  type JobTargets,
  type PauseJobOutcome,
  type RolloutConfig,
  SCHEDULE_END_BEHAVIORS,
  MAX_JOB_TARGETS,
  type TimedOutTally,
} from '../jobs/model.ts';
import { createdSnapshot, endInstant, JOB_PAGE_BUDGET, jobSnapshot, resultExcerpt, undeliveredStatus } from '../jobs/rules.ts';
import { storeViews } from './admission.ts';
import { UpstashConnectionStore } from './connections-upstash.ts';
import type { CommandField, JOB_SPEC_OPTION_FIELDS, JobField } from './fields.ts';
import { type RedisKeys, redisKeys } from './keys.ts';
import { recordStoreLatency } from './latency.ts';
import { limitFailedOpen, type RateLimitSettings, windowOf } from './ratelimit.ts';
import {
  ADMIT,
  AGENT_GROUPS,
  CANCEL,
  COMPLETE,
  ENQUEUE,
  FETCH,
  type GateArg,
  type GateKey,
  GET_COMMAND,
  GET_CONFIG,
  GROUP_BULK,
  GROUP_JOIN,
  GROUP_LEAVE,
  GROUP_MEMBERS,
  gated,
  inputsOf,
  JOB_CANCEL,
  JOB_PAUSE,
  JOB_CREATE,
  JOB_CREATE_STEP,
  JOB_DRY_RUN,
  JOB_EXECUTION,
  JOB_EXECUTIONS,
  JOB_GET,
  JOB_LIST,
  LIST,
  type LuaScript,
  PUT_CONFIG,
  SIGN_EXECUTIONS,
  RAISE_CUTOFF,
  REVOKE_TOKEN,
} from './scripts.ts';
import {
  type Actions,
  type Admission,
  type CommandStore,
  type ExecutionSignature,
  type JobStore,
  RateLimitedError,
  type RevocationActions,
  type StoreBackend,
  StoreUnavailableError,
  type Stores,
  type UncheckedGroupStore,
} from './types.ts';

/**
 * The client, with every setting explicit:
 * - signal: a fresh AbortSignal.timeout per HTTP request (a single fixed signal would make later
 *   calls return null silently). The client makes the signal once per request, before its retry
 *   loop, so the timeout covers the attempts together; only a back-off sleep is not cut short,
 *   hence a call takes at most REDIS_TIMEOUT_MS + 50 ms.
 * - retry: one retry after 50 ms, on network errors only (the client never retries HTTP errors,
 *   nor an aborted call). It covers a pooled keep-alive connection that the server closed while
 *   the Lambda was frozen; an unreachable database costs ~50 ms, not the default six attempts
 *   over about 4.3 s (measured).
 * - enableAutoPipelining: false, so each store call is its own `POST /` request: one command,
 *   one round trip, its own timeout and its own error (a Lambda serves one request at a time,
 *   and makes one store call per request).
 * - automaticDeserialization: false: values come back as the exact strings stored (args and
 *   results are JSON we parse ourselves; "5" must not turn into 5).
 * - enableTelemetry: false: no SDK/platform headers sent to the database.
 * - responseEncoding stays base64 (the default), so any bytes survive the JSON transport.
 */
export function createRedisClient(config: Pick<Config, 'upstashUrl' | 'upstashToken' | 'redisTimeoutMs'>): Redis {
  if (config.upstashUrl === undefined || config.upstashToken === undefined) {
    throw new ConfigError(
      'UPSTASH_REDIS_REST_URL',
      'USE_REDIS=true needs UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN here (the local server and the revoke CLI start a bridge to REDIS_HOST:REDIS_PORT themselves)',
    );
  }
  const timeoutMs = config.redisTimeoutMs;
  const client = new Redis({
    url: config.upstashUrl,
    token: config.upstashToken,
    signal: () => AbortSignal.timeout(timeoutMs),
    retry: { retries: 1, backoff: () => 50 },
    enableAutoPipelining: false,
    automaticDeserialization: false,
    enableTelemetry: false,
    responseEncoding: 'base64',
    readYourWrites: true,
  });
  // Every HTTP round trip, timed for the StoreLatency metric.
  client.use(async (req, next) => {
    const started = performance.now();
    try {
      return await next(req);
    } finally {
      recordStoreLatency(performance.now() - started);
    }
  });
  return client;
}

/**
 * What of a client failure may be kept: its name and the error text, never the request.
 * @upstash/redis writes `<redis error>, command was: <the whole request as JSON>` into its
 * errors, and that request carries results, config values and command args (secrets, often).
 */
export function redisFailure(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const cut = message.indexOf(', command was:');
  const safe = new Error(cut === -1 ? message : message.slice(0, cut));
  safe.name = error instanceof Error ? error.name : 'Error';
  return safe;
}

/**
 * Runs one client call; any failure becomes a StoreUnavailableError naming the store call, whose
 * message and cause carry the Redis error alone (redisFailure), never the command's arguments.
 */
export async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (
      error instanceof TokenError ||
      error instanceof DpopProofError ||
      error instanceof RateLimitedError ||
      error instanceof StoreUnavailableError
    )
      throw error;
    const cause = redisFailure(error);
    throw new StoreUnavailableError(`Redis ${what} failed: ${cause.message}`, { cause });
  }
}

/**
 * One script on the client, run by EVALSHA (EVAL once when Redis does not know it yet), inputs by
 * name. Its text (and hash) is made the first time it runs: a store reads the file of a script it
 * runs, and no other.
 */
function runner<K extends string, A extends string>(redis: Redis, lua: LuaScript<K, A>) {
  let compiled: ReturnType<typeof redis.createScript<unknown>> | undefined;
  return (keys: Readonly<Record<K, string>>, args: Readonly<Record<A, string | number>>): Promise<unknown> => {
    compiled ??= redis.createScript<unknown>(lua.lua);
    const inputs = inputsOf(lua, keys, args);
    return compiled.exec(inputs.keys, inputs.args);
  };
}

/** How a store admits requests: its key layout, revocation mode and rate limit. */
export interface GateSettings {
  readonly keys: RedisKeys;
  readonly mode: RevocationMode;
  readonly rateLimit: RateLimitSettings | undefined;
}

/**
 * How long a write's reply is kept for a retry of the same store call. The client retries once,
 * 50 ms after a network error, within the call's REDIS_TIMEOUT_MS (at most 2.5 s): 30 s is far
 * beyond that, and short enough that the replies of a fleet's writes stay a small set.
 */
export const REPLY_KEEP_MS = 30_000;

/**
 * How long a poll's memory of the agent's jobs (<p>agent-met:<agent>) lasts after the full look
 * that wrote it: a full look comes at least this often, whatever the polls in between skip.
 */
export const AGENT_MET_KEEP_MS = 300_000;

/** The gate's inputs for one admission (scripts.ts GATE_KEYS and GATE_ARGS); `once`: the action is a write. */
function gateInputs(gate: GateSettings, admission: Admission, once: boolean) {
  const { token, now } = admission;
  const jti = token.jti ?? '';
  const windowMs = (gate.rateLimit?.windowSeconds ?? 1) * 1000;
  const window = windowOf(now, windowMs);
  // The call's own id: the client's retry sends these same inputs, so it finds the reply kept.
  const callId = once ? randomUUID() : '';
  const keys: Record<GateKey, string> = {
    gateCutoffKey: gate.keys.revokedSub(token.sub),
    gateRevokedKey: gate.keys.revokedJti(jti),
    gateActiveKey: gate.keys.activeJti(jti),
    gateLimitKey: gate.keys.rateLimit(token.sub, window),
    gateLimitPreviousKey: gate.keys.rateLimit(token.sub, window - 1),
    gateReplyKey: gate.keys.reply(callId),
    gateProofKey: gate.keys.dpopProof(admission.proof?.id ?? ''),
  };
  const args: Record<GateArg, string | number> = {
    gateMode: gate.mode,
    gateHasJti: token.jti === undefined ? '0' : '1',
    gateIat: token.iat === undefined ? '' : token.iat,
    gateHasIat: token.iat === undefined ? '0' : '1',
    limitRequests: gate.rateLimit?.requests ?? 0,
    limitWindowMs: windowMs,
    limitExpireAt: (window + 2) * windowMs,
    limitNow: now,
    gateCall: callId,
    gateReplyMs: REPLY_KEEP_MS,
    gateProofRequest: admission.proof?.request ?? '',
    gateProofUntil: admission.proof?.until ?? 0,
  };
  return { keys, args, windowMs };
}

/**
 * One action as a store call, the one way in for every store method: with the admission of an
 * admitted view (lib/store/admission.ts), the gated script (revocation, rate limit, then the
 * action, one command); with none, the unchecked view's call, the action's own script. A refusal
 * throws what the memory store throws; what the action returned is handed back.
 */
export function gatedRunner<K extends string, A extends string>(redis: Redis, gate: GateSettings, action: LuaScript<K, A>) {
  const plain = runner(redis, action);
  const behind = runner(redis, gated(action));
  return async (
    admission: Admission | undefined,
    keys: Readonly<Record<K, string>>,
    args: Readonly<Record<A, string | number>>,
  ): Promise<unknown> => {
    if (admission === undefined) return plain(keys, args);
    const inputs = gateInputs(gate, admission, action.once);
    const reply = await behind({ ...inputs.keys, ...keys }, { ...inputs.args, ...args });
    if (!Array.isArray(reply)) throw new StoreUnavailableError(`Redis gate returned ${typeof reply}`);
    const [verdict, note, result] = reply as [unknown, unknown, unknown];
    const sub = admission.token.sub;
    if (verdict === 'revoked') throw new TokenError('token_revoked', undefined, undefined, sub);
    if (verdict === 'proof_replayed') throw new DpopProofError('proof_replayed', 'its jti was used before', undefined, sub);
    if (verdict === 'rate_limited') throw new RateLimitedError(sub, Number(note), admission.now);
    if (verdict !== 'ok') throw new StoreUnavailableError('Redis gate returned an unknown verdict');
    if (Number(note) === 1) limitFailedOpen(admission.now, inputs.windowMs);
    return result;
  };
}

const WRITTEN: ReadonlySet<string> = new Set<WrittenStatus>(['completed', 'failed', 'rejected', 'canceled']);
const STATUSES: ReadonlySet<string> = new Set<string>(COMMAND_STATUSES);

/** A flat HGETALL array to a CommandRecord; undefined when empty. Field names: COMMAND_FIELDS (fields.ts). */
function toRecord(flat: unknown): CommandRecord | undefined {
  if (!Array.isArray(flat) || flat.length === 0) return undefined;
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), String(flat[i + 1]));
  const required = (name: CommandField) => {
    const value = fields.get(name);
    if (value === undefined) throw new StoreUnavailableError(`Redis command hash lacks the field ${name}`);
    return value;
  };
  const text = (name: CommandField) => {
    const value = fields.get(name);
    return value === undefined ? {} : { [name]: value };
  };
  const number = (name: CommandField) => {
    const value = fields.get(name);
    return value === undefined ? {} : { [name]: Number(value) };
  };
  const resultStatus = fields.get('resultStatus');
  return {
    commandId: required('commandId'),
    agentId: required('agentId'),
    command: required('command'),
    args: JSON.parse(required('args')) as Record<string, unknown>,
    createdAt: Number(required('createdAt')),
    expiresAt: Number(required('expiresAt')),
    ...number('timeoutMs'),
    ...number('updatedAt'),
    ...number('deliveredAt'),
    ...number('deliveryCount'),
    ...number('startedAt'),
    ...number('deadlineAt'),
    ...text('statusDetailsJson'),
    ...number('completedAt'),
    ...(resultStatus !== undefined && WRITTEN.has(resultStatus) ? { resultStatus: resultStatus as WrittenStatus } : {}),
    ...text('resultJson'),
    ...text('cancelReason'),
    ...text('jobId'),
    ...number('attempt'),
    ...text('signature'),
  } as CommandRecord;
}

/** A history list (LRANGE, oldest first; lua/include/history.lua) as its entries. */
function toHistory(list: unknown): HistoryEntry[] {
  if (!Array.isArray(list)) throw new StoreUnavailableError('Redis returned no history list');
  return list.map((text) => {
    const entry = JSON.parse(String(text)) as { status: string; at: string; attempt: number; statusDetailsJson?: string; reason?: string };
    if (!STATUSES.has(entry.status)) throw new StoreUnavailableError('Redis history holds an unknown status');
    return {
      status: entry.status as CommandStatus,
      at: Number(entry.at),
      attempt: Number(entry.attempt),
      ...(entry.statusDetailsJson === undefined ? {} : { statusDetailsJson: entry.statusDetailsJson }),
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
    };
  });
}

/** A script's { outcome, status } answer as an Outcome. */
function toOutcome(what: string, answer: unknown): Outcome {
  const [outcome, status] = Array.isArray(answer) ? answer : [];
  if (outcome === 'not_found') return { outcome };
  if (outcome === 'stale_attempt' && Number.isInteger(Number(status))) return { outcome, attempt: Number(status) };
  if ((outcome === 'accepted' || outcome === 'duplicate' || outcome === 'refused') && STATUSES.has(String(status))) {
    return { outcome, status: status as CommandStatus };
  }
  throw new StoreUnavailableError(`Redis ${what} returned an unknown answer (${typeof answer})`);
}

/** What both stores are made with: the key prefix and, for the gate, the revocation mode and rate limit. */
export interface UpstashStoreOptions {
  readonly redisKeyPrefix: string;
  readonly revocationMode?: RevocationMode;
  readonly rateLimit?: RateLimitSettings | undefined;
  /** Members one script of a job's creation copies at most (JOB_CREATE_STEP_MEMBERS; tests make it small). */
  readonly jobCreateStepMembers?: number;
  /** Tests only: run between two steps of a job's build (`done` steps so far); what it throws, the create throws. */
  readonly betweenJobCreateSteps?: (jobId: string, done: number) => Promise<void>;
}

/**
 * Members one script of a job's creation copies at most (lua/include/jobBuild.lua). A member
 * costs about 2 µs of Redis time (ZRANGEBYSCORE, then ZADD NX into a target set of up to
 * 1,000,000), but up to 10 µs while the target set's hash table is being rehashed after it
 * doubled (at 131,072, 262,144 and 524,288 members: bench figure 8 saw a 1,000-member step take
 * 10 ms in every create over 1,000,000 targets). 250 keeps the worst step a few ms, well under
 * the 10 ms no script may exceed, at some 4,000 scripts for 1,000,000 targets (28 s function
 * timeout, Route.timeoutSeconds). A job counted at or under it is created in one script.
 */
export const JOB_CREATE_STEP_MEMBERS = 250;

/**
 * How long an unfinished creation is kept (its build, targets and leavers; lua/include/jobBuild.lua)
 * from the begin of the request that runs it: far beyond a create's 10 s function timeout, so a
 * retry with the same Idempotency-Key soon after finds it and finishes it, and short, so that one
 * never finished leaves nothing behind for long.
 */
export const JOB_BUILD_KEEP_MS = 120_000;

export function gateSettings(options: UpstashStoreOptions): GateSettings {
  return { keys: redisKeys(options.redisKeyPrefix), mode: options.revocationMode ?? 'denylist', rateLimit: options.rateLimit };
}

/** Commands: each method is one script, behind the gate when the view calling it is admitted. */
export class UpstashCommandStore implements Actions<CommandStore> {
  private readonly keys: RedisKeys;
  private readonly retentionMs: number;
  private readonly enqueueScript;
  private readonly fetchScript;
  private readonly completeScript;
  private readonly cancelScript;
  private readonly listScript;
  private readonly getScript;
  private readonly getConfigScript;
  private readonly putConfigScript;
  private readonly signExecutionsScript;

  constructor(redis: Redis, options: UpstashStoreOptions & { resultRetentionSeconds: number }) {
    const gate = gateSettings(options);
    this.keys = gate.keys;
    this.retentionMs = options.resultRetentionSeconds * 1000;
    this.enqueueScript = gatedRunner(redis, gate, ENQUEUE);
    this.fetchScript = gatedRunner(redis, gate, FETCH);
    this.completeScript = gatedRunner(redis, gate, COMPLETE);
    this.cancelScript = gatedRunner(redis, gate, CANCEL);
    this.listScript = gatedRunner(redis, gate, LIST);
    this.getScript = gatedRunner(redis, gate, GET_COMMAND);
    this.getConfigScript = gatedRunner(redis, gate, GET_CONFIG);
    this.putConfigScript = gatedRunner(redis, gate, PUT_CONFIG);
    this.signExecutionsScript = runner(redis, SIGN_EXECUTIONS);
  }

  async enqueue(admission: Admission | undefined, command: NewCommand, request?: IdempotentRequest): Promise<EnqueueOutcome> {
    const { commandId, agentId } = command;
    const answer = await call('enqueue', () =>
      this.enqueueScript(
        admission,
        {
          commandKey: this.keys.command(agentId, commandId),
          queueKey: this.keys.queue(agentId),
          logKey: this.keys.log(agentId),
          seqKey: this.keys.seq(agentId),
          idemKey: request === undefined ? '' : this.keys.idempotency(request.sub, agentId, request.key),
        },
        {
          commandPrefix: this.keys.commandPrefix(agentId),
          commandId,
          agentId,
          command: command.command,
          args: JSON.stringify(command.args),
          createdAt: command.createdAt,
          expiresAt: command.expiresAt,
          timeoutMs: command.timeoutMs ?? '',
          signature: command.signature ?? '',
          keepUntil: goneAt(command, this.retentionMs),
          useKey: request === undefined ? '0' : '1',
          fingerprint: request?.fingerprint ?? '',
          idemUntil: idempotentUntil(command.createdAt, this.retentionMs),
          retentionMs: this.retentionMs,
        },
      ),
    );
    const [outcome, flat] = Array.isArray(answer) ? answer : [];
    if (outcome === 'created') return { outcome, record: created(command) };
    if (outcome === 'mismatch') return { outcome };
    const record = toRecord(flat);
    if (outcome === 'replayed' && record !== undefined) return { outcome, record };
    throw new StoreUnavailableError(`Redis enqueue returned an unknown answer (${typeof answer})`);
  }

  async fetch(admission: Admission | undefined, agentId: string, limit: number, now: number): Promise<CommandRecord[]> {
    if (limit < 1 && admission === undefined) return [];
    const rows = await call('fetch', () =>
      this.fetchScript(
        admission,
        {
          queueKey: this.keys.queue(agentId),
          logKey: this.keys.log(agentId),
          seqKey: this.keys.seq(agentId),
          agentGroupsKey: this.keys.agentGroups(agentId),
          agentJobsKey: this.keys.agentJobs(agentId),
          jobSeqKey: this.keys.jobSeq(),
          agentMetKey: this.keys.agentMet(agentId),
        },
        {
          keyPrefix: this.keys.prefix,
          commandPrefix: this.keys.commandPrefix(agentId),
          agentId,
          limit: Math.max(0, limit),
          now,
          retentionMs: this.retentionMs,
          metKeepMs: AGENT_MET_KEEP_MS,
        },
      ),
    );
    if (!Array.isArray(rows)) throw new StoreUnavailableError('Redis fetch returned no list');
    return rows.map(toRecord).filter((record): record is CommandRecord => record !== undefined);
  }

  async complete(admission: Admission | undefined, agentId: string, commandId: string, report: Report): Promise<Outcome> {
    const progress = report.status === 'in_progress' ? report : undefined;
    const result = report.status === 'in_progress' ? undefined : report;
    const answer = await call('complete', () =>
      this.completeScript(
        admission,
        {
          commandKey: this.keys.command(agentId, commandId),
          queueKey: this.keys.queue(agentId),
          historyKey: this.keys.history(agentId, commandId),
          ...this.executionJobKeys(commandId),
        },
        {
          commandId,
          agentId,
          status: report.status,
          hasResult: result?.resultJson === undefined ? '0' : '1',
          resultJson: result?.resultJson ?? '',
          hasDetails: report.statusDetailsJson === undefined ? '0' : '1',
          statusDetailsJson: report.statusDetailsJson ?? '',
          stepTimeoutMs: progress?.timeoutMs ?? '',
          at: reportedAt(report),
          retentionMs: this.retentionMs,
          attempt: report.attempt ?? '',
        },
      ),
    );
    return toOutcome('complete', answer);
  }

  async cancel(admission: Admission | undefined, agentId: string, commandId: string, cancellation: Cancellation): Promise<Transition> {
    const answer = await call('cancel', () =>
      this.cancelScript(
        admission,
        {
          commandKey: this.keys.command(agentId, commandId),
          queueKey: this.keys.queue(agentId),
          historyKey: this.keys.history(agentId, commandId),
          ...this.executionJobKeys(commandId),
        },
        {
          commandId,
          agentId,
          hasReason: cancellation.reason === undefined ? '0' : '1',
          reason: cancellation.reason ?? '',
          at: cancellation.at,
          retentionMs: this.retentionMs,
        },
      ),
    );
    const outcome = toOutcome('cancel', answer);
    const record = outcome.outcome === 'not_found' ? undefined : toRecord((answer as unknown[])[2]);
    if (outcome.outcome !== 'not_found' && record === undefined) throw new StoreUnavailableError('Redis cancel returned no record');
    return { outcome, record };
  }

  async get(admission: Admission | undefined, agentId: string, commandId: string, now?: number): Promise<CommandRecord | undefined> {
    return (await this.getDetail(admission, agentId, commandId, now))?.record;
  }

  /** GET_COMMAND: the hash and the history in one script. */
  async getDetail(
    admission: Admission | undefined,
    agentId: string,
    commandId: string,
    now?: number,
  ): Promise<{ record: CommandRecord; history: HistoryEntry[] } | undefined> {
    const answer = await call('get', () =>
      this.getScript(
        admission,
        {
          commandKey: this.keys.command(agentId, commandId),
          historyKey: this.keys.history(agentId, commandId),
          ...this.executionJobKeys(commandId),
        },
        { commandId, retentionMs: this.retentionMs, now: now ?? '' },
      ),
    );
    const [flat, history] = Array.isArray(answer) ? answer : [];
    const record = toRecord(flat);
    return record?.agentId === agentId ? { record, history: toHistory(history) } : undefined;
  }

  async list(admission: Admission | undefined, agentId: string, query: ListQuery, now: number): Promise<ListPage> {
    const answer = await call('list', () =>
      this.listScript(
        admission,
        { logKey: this.keys.log(agentId), queueKey: this.keys.queue(agentId) },
        {
          keyPrefix: this.keys.prefix,
          commandPrefix: this.keys.commandPrefix(agentId),
          after: query.after,
          limit: query.limit,
          statuses: query.statuses?.join(',') ?? '',
          now,
          retentionMs: this.retentionMs,
          budget: query.budget ?? PAGE_BUDGET,
          pruneBudget: PAGE_BUDGET,
        },
      ),
    );
    const [rows, last] = Array.isArray(answer) ? answer : [];
    if (!Array.isArray(rows) || typeof last !== 'string')
      throw new StoreUnavailableError(`Redis list returned an unknown answer (${typeof answer})`);
    return {
      records: rows.map(toRecord).filter((record): record is CommandRecord => record !== undefined),
      nextAfter: last === '' ? undefined : Number(last),
    };
  }

  /** The keys of the job a command may be the execution of (commandId = jobId): none exist for a plain command. */
  private executionJobKeys(commandId: string) {
    return {
      jobKey: this.keys.job(commandId),
      jobDeliveredKey: this.keys.jobDeadlines(commandId, 'delivered'),
      jobInProgressKey: this.keys.jobDeadlines(commandId, 'in_progress'),
      jobRetryKey: this.keys.jobDeadlines(commandId, 'retry'),
    };
  }

  async getConfig(admission: Admission | undefined, agentId: string): Promise<Record<string, unknown> | undefined> {
    const raw = await call('getConfig', () => this.getConfigScript(admission, { configKey: this.keys.config(agentId) }, {}));
    return typeof raw === 'string' ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
  }

  async putConfig(admission: Admission | undefined, agentId: string, overrides: Record<string, unknown>): Promise<void> {
    await call('putConfig', () =>
      this.putConfigScript(admission, { configKey: this.keys.config(agentId) }, { overrides: JSON.stringify(overrides) }),
    );
  }

  /** Never gated (CommandStore.signExecutions): the admission is not used. */
  async signExecutions(
    _admission: Admission | undefined,
    agentId: string,
    entries: readonly ExecutionSignature[],
  ): Promise<ReadonlyMap<string, string | undefined>> {
    if (entries.length === 0) return new Map();
    const flat = await call('signExecutions', () =>
      this.signExecutionsScript(
        {},
        {
          commandPrefix: this.keys.commandPrefix(agentId),
          entriesJson: JSON.stringify(
            entries.map((entry) => [entry.commandId, entry.attempt === undefined ? '' : String(entry.attempt), entry.signature]),
          ),
        },
      ),
    );
    if (!Array.isArray(flat)) throw new StoreUnavailableError('Redis sign-executions returned no list');
    const out = new Map<string, string | undefined>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), String(flat[i + 1]) || undefined);
    return out;
  }
}

/** Beyond this (about 31 million years) Redis refuses EXAT (its limit is ~9.2e15 s): keep such an entry for good. */
const MAX_EXAT_SECONDS = 1e15;

/** SET options for an entry that ends at `expiresAt` (epoch s); already past: gone at once. */
function expiry(expiresAt: number): { exat: number } | undefined {
  if (!(expiresAt < MAX_EXAT_SECONDS)) return undefined; // also NaN: never silently "not revoked"
  return { exat: Math.max(1, Math.ceil(expiresAt)) };
}

export class UpstashRevocationStore implements RevocationActions {
  private readonly redis: Redis;
  private readonly keys: RedisKeys;
  private readonly admitScript;
  private readonly checkScript;
  private readonly revokeScript;
  private readonly raiseCutoff;

  constructor(redis: Redis, options: UpstashStoreOptions) {
    const gate = gateSettings(options);
    this.redis = redis;
    this.keys = gate.keys;
    this.admitScript = gatedRunner(redis, gate, ADMIT);
    // isRevoked asks the same gate, with the rate limit left out: nothing is counted.
    this.checkScript = gatedRunner(redis, { ...gate, rateLimit: undefined }, ADMIT);
    this.revokeScript = gatedRunner(redis, gate, REVOKE_TOKEN);
    this.raiseCutoff = gatedRunner(redis, gate, RAISE_CUTOFF);
  }

  /** The gate's revocation decision alone (the Lua mirror of isRevoked), one script. */
  async isRevoked(token: TokenIdentity): Promise<boolean> {
    try {
      await call('isRevoked', () => this.checkScript({ token, now: 0 }, {}, {}));
      return false;
    } catch (error) {
      if (error instanceof TokenError) return true;
      throw error;
    }
  }

  async admit(admission: Admission): Promise<void> {
    await call('admit', () => this.admitScript(admission, {}, {}));
  }

  /** SET ... EXAT: the entry goes by itself at expiresAt (already past: gone at once, as in memory). */
  async revokeToken(admission: Admission | undefined, jti: string, expiresAt: number): Promise<void> {
    const exat = expiry(expiresAt)?.exat ?? '';
    await call('revokeToken', () => this.revokeScript(admission, { revokedKey: this.keys.revokedJti(jti) }, { exat }));
  }

  /**
   * Raises the cut-off, never lowers it. No TTL: the verifier puts no upper bound on a token's
   * lifetime, so any expiry could bring a revoked token back; it is one small key per subject
   * an operator revoked (delete it by hand once the subject's old tokens have all expired).
   */
  async revokeSubject(admission: Admission | undefined, sub: string, cutoff: number): Promise<void> {
    await call('revokeSubject', () =>
      this.raiseCutoff(admission, { cutoffKey: this.keys.revokedSub(sub) }, { cutoff: cutoffSeconds(cutoff) }),
    );
  }

  /** Registers an issued token as active until expiresAt (what the auth server does); read in allowlist mode. */
  async registerToken(jti: string, expiresAt: number): Promise<void> {
    await call('registerToken', () => this.redis.set(this.keys.activeJti(jti), '1', expiry(expiresAt)));
  }
}

const JOIN_OUTCOMES: ReadonlySet<string> = new Set<JoinOutcome>(['added', 'unchanged', 'too_many_groups']);
const LEAVE_OUTCOMES: ReadonlySet<string> = new Set<LeaveOutcome>(['removed', 'unchanged']);

/**
 * Groups: each method is one script, every key it touches passed in KEYS. A join or a leave writes
 * the group's sorted set and the agent's set together; a page is one ZRANGE BYSCORE, an agent's
 * groups one SMEMBERS. With an admission the script runs behind the gate, as the command store's.
 */
export class UpstashGroupStore implements Actions<UncheckedGroupStore> {
  private readonly keys: RedisKeys;
  private readonly joinScript;
  private readonly leaveScript;
  private readonly membersScript;
  private readonly groupsOfScript;
  private readonly bulkScript;

  /** How long a job is kept after its expiry (RESULT_RETENTION_SECONDS): a leaver's agent-jobs is kept as long. */
  private readonly retentionMs: number;

  constructor(redis: Redis, options: UpstashStoreOptions & { resultRetentionSeconds: number }) {
    const gate = gateSettings(options);
    this.keys = gate.keys;
    this.retentionMs = options.resultRetentionSeconds * 1000;
    this.joinScript = gatedRunner(redis, gate, GROUP_JOIN);
    this.leaveScript = gatedRunner(redis, gate, GROUP_LEAVE);
    this.membersScript = gatedRunner(redis, gate, GROUP_MEMBERS);
    this.groupsOfScript = gatedRunner(redis, gate, AGENT_GROUPS);
    this.bulkScript = gatedRunner(redis, gate, GROUP_BULK);
  }

  /** GROUP_BULK: the leaves, then the joins, in one script (`now` as for join). */
  async change(admission: Admission | undefined, group: string, changes: MemberChanges, now: number = Date.now()): Promise<BulkOutcome> {
    const answer = await call('change', () =>
      this.bulkScript(
        admission,
        {
          groupKey: this.keys.group(group),
          seqKey: this.keys.groupSeq(group),
          groupJobsKey: this.keys.groupJobs(group),
          groupBuildsKey: this.keys.groupBuilds(group),
        },
        {
          keyPrefix: this.keys.prefix,
          group,
          addJson: JSON.stringify(changes.add),
          removeJson: JSON.stringify(changes.remove),
          maxGroups: MAX_GROUPS_PER_AGENT,
          now,
          retentionMs: this.retentionMs,
        },
      ),
    );
    const [added, removed, unchanged, refused] = Array.isArray(answer) ? answer : [];
    if (!Array.isArray(refused)) throw new StoreUnavailableError(`Redis change returned ${typeof answer}`);
    return { added: Number(added), removed: Number(removed), unchanged: Number(unchanged), refused: refused.map(String) };
  }

  /** `now`: the join's instant, for the continuous jobs of the group (the admitted view passes the admission's). */
  async join(admission: Admission | undefined, group: string, agentId: string, now: number = Date.now()): Promise<JoinOutcome> {
    const outcome = await call('join', () =>
      this.joinScript(
        admission,
        {
          groupKey: this.keys.group(group),
          seqKey: this.keys.groupSeq(group),
          agentGroupsKey: this.keys.agentGroups(agentId),
          groupJobsKey: this.keys.groupJobs(group),
          groupBuildsKey: this.keys.groupBuilds(group),
          agentMetKey: this.keys.agentMet(agentId),
        },
        { keyPrefix: this.keys.prefix, group, agentId, maxGroups: MAX_GROUPS_PER_AGENT, now },
      ),
    );
    if (typeof outcome !== 'string' || !JOIN_OUTCOMES.has(outcome))
      throw new StoreUnavailableError(`Redis join returned ${JSON.stringify(outcome)}`);
    return outcome as JoinOutcome;
  }

  async leave(admission: Admission | undefined, group: string, agentId: string): Promise<LeaveOutcome> {
    const outcome = await call('leave', () =>
      this.leaveScript(
        admission,
        {
          groupKey: this.keys.group(group),
          agentGroupsKey: this.keys.agentGroups(agentId),
          groupJobsKey: this.keys.groupJobs(group),
          agentJobsKey: this.keys.agentJobs(agentId),
          groupBuildsKey: this.keys.groupBuilds(group),
          agentMetKey: this.keys.agentMet(agentId),
        },
        { keyPrefix: this.keys.prefix, group, agentId, retentionMs: this.retentionMs },
      ),
    );
    if (typeof outcome !== 'string' || !LEAVE_OUTCOMES.has(outcome))
      throw new StoreUnavailableError(`Redis leave returned ${JSON.stringify(outcome)}`);
    return outcome as LeaveOutcome;
  }

  /** The members with a position above `after`, one more than a page to know whether another follows. */
  async members(admission: Admission | undefined, group: string, after: number, limit: number): Promise<MemberPage> {
    const flat = await call('members', () =>
      this.membersScript(admission, { groupKey: this.keys.group(group) }, { after, count: limit + 1 }),
    );
    if (!Array.isArray(flat) || flat.length % 2 !== 0) throw new StoreUnavailableError(`Redis members returned ${JSON.stringify(flat)}`);
    const entries: { agentId: string; position: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) entries.push({ agentId: String(flat[i]), position: Number(flat[i + 1]) });
    return memberPage(entries, limit);
  }

  async groupsOf(admission: Admission | undefined, agentId: string): Promise<string[]> {
    const groups = await call('groupsOf', () => this.groupsOfScript(admission, { agentGroupsKey: this.keys.agentGroups(agentId) }, {}));
    if (!Array.isArray(groups)) throw new StoreUnavailableError(`Redis groupsOf returned ${JSON.stringify(groups)}`);
    return sortedGroups(groups.map(String));
  }
}

/** A flat job hash (HGETALL) to the job's state and its target count at creation; undefined when empty. Field names: JOB_FIELDS (fields.ts). */
function toJobState(flat: unknown): { state: JobState; initialTargets: number } | undefined {
  if (!Array.isArray(flat) || flat.length === 0) return undefined;
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), String(flat[i + 1]));
  const required = (name: JobField) => {
    const value = fields.get(name);
    if (value === undefined) throw new StoreUnavailableError(`Redis job hash lacks the field ${name}`);
    return value;
  };
  const count = (name: JobField) => Number(required(name));
  const optional = (name: JobField) => {
    const value = fields.get(name);
    return value === undefined ? undefined : Number(value);
  };
  const timeoutMs = optional('timeoutMs');
  const abort = abortOf(fields);
  const rollout = rolloutOf(fields);
  const scheduleStart = optional('scheduleStart');
  const scheduleEnd = optional('scheduleEnd');
  const endBehavior = SCHEDULE_END_BEHAVIORS.find((behavior) => behavior === fields.get('scheduleEndBehavior')) ?? 'stop_rollout';
  const schedule: JobSchedule | undefined =
    scheduleStart === undefined
      ? undefined
      : { startAt: scheduleStart, ...(scheduleEnd === undefined ? {} : { endAt: scheduleEnd }), endBehavior };
  const description = fields.get('description');
  const retryCriteria = fields.get('retryCriteria');
  const createdBy = fields.get('createdBy');
  const spec: JobSpec = {
    jobId: required('jobId'),
    command: required('command'),
    args: JSON.parse(required('args')) as Record<string, unknown>,
    targets: JSON.parse(required('targetsJson')) as JobTargets,
    createdAt: count('createdAt'),
    expiresAt: count('expiresAt'),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    continuous: required('continuous') === '1',
    ...(rollout === undefined ? {} : { rollout }),
    ...(abort === undefined ? {} : { abort }),
    ...(schedule === undefined ? {} : { schedule }),
    ...(retryCriteria === undefined ? {} : { retry: { criteria: JSON.parse(retryCriteria) as RetryCriterion[] } }),
    ...(description === undefined ? {} : { description }),
    ...(createdBy === undefined ? {} : { createdBy }),
  };
  const lastEndAt = optional('lastEndAt');
  const tally: JobTally = {
    targets: count('targets'),
    materialized: count('materialized'),
    delivered: count('delivered'),
    inProgress: count('inProgress'),
    completed: count('completed'),
    failed: count('failed'),
    rejected: count('rejected'),
    canceled: count('canceled'),
    retrying: optional('retrying') ?? 0,
    ...(lastEndAt === undefined ? {} : { lastEndAt }),
    updatedAt: count('updatedAt'),
  };
  const endStatus = fields.get('endStatus');
  const reason = fields.get('endReason');
  const final = fields.get('endFinal');
  const end: JobEnd | undefined =
    endStatus === 'canceled' || endStatus === 'aborted'
      ? {
          status: endStatus,
          at: count('endAt'),
          ...(reason === undefined ? {} : { reason }),
          force: required('endForce') === '1',
          undelivered: count('endUndelivered'),
          ...(final === undefined ? {} : { final: JSON.parse(final) as JobCounts }),
        }
      : undefined;
  const pauseState = fields.get('pauseState');
  const pauseReason = fields.get('pauseReason');
  const pause: JobPause | undefined =
    pauseState === undefined
      ? undefined
      : { paused: pauseState === '1', at: count('pauseAt'), ...(pauseReason === undefined ? {} : { reason: pauseReason }) };
  return {
    state: { spec, seq: count('seq'), tally, ...(end === undefined ? {} : { end }), ...(pause === undefined ? {} : { pause }) },
    initialTargets: count('initialTargets'),
  };
}

/** The rollout of a job hash: `rolloutMax` and the exponential rate's fields (its factor in tenths). */
function rolloutOf(fields: ReadonlyMap<string, string>): RolloutConfig | undefined {
  const field = (name: JobField) => fields.get(name);
  const max = field('rolloutMax');
  const base = field('rolloutBase');
  if (max === undefined && base === undefined) return undefined;
  const kind = field('rolloutAfter');
  const exponential: ExponentialRollout | undefined =
    base === undefined
      ? undefined
      : {
          basePerMinute: Number(base),
          incrementFactorTenths: Number(field('rolloutFactor')),
          increaseAfter: { kind: kind === 'succeeded' ? 'succeeded' : 'notified', count: Number(field('rolloutAfterCount')) },
        };
  return { ...(max === undefined ? {} : { maxPerMinute: Number(max) }), ...(exponential === undefined ? {} : { exponential }) };
}

/** The abort criteria of a job hash: `abortCriteria` (JSON), or the one criterion of type all of a job written before criteria. */
function abortOf(fields: ReadonlyMap<string, string>): AbortConfig | undefined {
  const criteria = fields.get('abortCriteria' satisfies JobField);
  if (criteria !== undefined) return { criteria: JSON.parse(criteria) as AbortCriterion[] };
  const percent = fields.get('abortPercent' satisfies JobField);
  if (percent === undefined) return undefined;
  return {
    criteria: [{ failureType: 'all', thresholdPercent: Number(percent), minExecuted: Number(fields.get('abortMin' satisfies JobField)) }],
  };
}

/** The spec's optional settings as JOB_CREATE's `specFields`: field, value, field, value ... (JOB_SPEC_OPTION_FIELDS). */
function specFieldsOf(spec: JobSpec): string {
  const pairs: [(typeof JOB_SPEC_OPTION_FIELDS)[number], string][] = [];
  const { maxPerMinute, exponential } = spec.rollout ?? {};
  if (maxPerMinute !== undefined) pairs.push(['rolloutMax', String(maxPerMinute)]);
  if (exponential !== undefined) {
    pairs.push(['rolloutBase', String(exponential.basePerMinute)], ['rolloutFactor', String(exponential.incrementFactorTenths)]);
    pairs.push(['rolloutAfter', exponential.increaseAfter.kind], ['rolloutAfterCount', String(exponential.increaseAfter.count)]);
  }
  if (spec.abort !== undefined) pairs.push(['abortCriteria', JSON.stringify(spec.abort.criteria)]);
  const { schedule } = spec;
  if (schedule !== undefined) {
    pairs.push(['scheduleStart', String(schedule.startAt)], ['scheduleEndBehavior', schedule.endBehavior]);
    if (schedule.endAt !== undefined) pairs.push(['scheduleEnd', String(schedule.endAt)]);
  }
  if (spec.retry !== undefined) pairs.push(['retryCriteria', JSON.stringify(spec.retry.criteria)]);
  if (spec.createdBy !== undefined) pairs.push(['createdBy', spec.createdBy]);
  return JSON.stringify(pairs.flat());
}

/** A script's job answer { hash, timed-out delivered, timed-out in progress, latest deadline or '', retried } as the state and tally. */
function toJobRead(answer: unknown): { state: JobState; timedOut: TimedOutTally } {
  const [flat, delivered, inProgress, lastAt, retried] = Array.isArray(answer) ? answer : [];
  const job = toJobState(flat);
  if (job === undefined) throw new StoreUnavailableError('Redis returned no job');
  const timedOut: TimedOutTally = {
    delivered: Number(delivered),
    inProgress: Number(inProgress),
    ...(Number(retried ?? 0) === 0 ? {} : { retried: Number(retried) }),
    ...(lastAt === '' || lastAt === undefined ? {} : { lastAt: Number(lastAt) }),
  };
  return { state: job.state, timedOut };
}

/**
 * One target as a script read it: its execution's record without the result and the start of
 * that ('' for none; include/listedCommand.lua), none before its first delivery, or what
 * undeliveredStatus says.
 */
function toExecutionEntry(
  agentId: string,
  status: CommandStatus,
  record: CommandRecord | undefined,
  excerpt: unknown,
  state: JobState,
  now: number,
): ExecutionEntry {
  const undelivered = undeliveredStatus(state, now);
  const canceled = status === 'canceled';
  return {
    agentId,
    status,
    record,
    ...(typeof excerpt === 'string' && excerpt !== '' ? { resultExcerpt: resultExcerpt(excerpt) } : {}),
    cancelReason: !canceled ? undefined : record === undefined ? undelivered.reason : record.cancelReason,
    endedAt: record === undefined && status !== 'pending' ? undelivered.endedAt : undefined,
  };
}

/** The job as created: nothing delivered yet, read at its creation (what a replay answers too). */
const JOB_STATUS_SET: ReadonlySet<string> = new Set<string>(JOB_STATUSES);

/**
 * Jobs: each method is one script (behind the gate with an admission). The job's rules run in
 * the scripts where they decide what is written (abortAt, cancelJob, the brakes of a delivery)
 * and here on what they hand back (jobSnapshot), with the same clock.
 */
export class UpstashJobStore implements Actions<JobStore> {
  private readonly keys: RedisKeys;
  private readonly retentionMs: number;
  private readonly createScript;
  private readonly createStepScript;
  private readonly stepMembers: number;
  private readonly betweenSteps: ((jobId: string, done: number) => Promise<void>) | undefined;
  private readonly getScript;
  private readonly listScript;
  private readonly executionsScript;
  private readonly executionScript;
  private readonly cancelScript;
  private readonly dryRunScript;
  private readonly pauseScript;

  constructor(redis: Redis, options: UpstashStoreOptions & { resultRetentionSeconds: number }) {
    const gate = gateSettings(options);
    this.keys = gate.keys;
    this.retentionMs = options.resultRetentionSeconds * 1000;
    this.dryRunScript = gatedRunner(redis, gate, JOB_DRY_RUN);
    this.createScript = gatedRunner(redis, gate, JOB_CREATE);
    this.createStepScript = runner(redis, JOB_CREATE_STEP);
    this.stepMembers = options.jobCreateStepMembers ?? JOB_CREATE_STEP_MEMBERS;
    this.betweenSteps = options.betweenJobCreateSteps;
    this.getScript = gatedRunner(redis, gate, JOB_GET);
    this.listScript = gatedRunner(redis, gate, JOB_LIST);
    this.executionsScript = gatedRunner(redis, gate, JOB_EXECUTIONS);
    this.executionScript = gatedRunner(redis, gate, JOB_EXECUTION);
    this.cancelScript = gatedRunner(redis, gate, JOB_CANCEL);
    this.pauseScript = gatedRunner(redis, gate, JOB_PAUSE);
  }

  private deadlineKeys(jobId: string) {
    return {
      jobKey: this.keys.job(jobId),
      jobDeliveredKey: this.keys.jobDeadlines(jobId, 'delivered'),
      jobInProgressKey: this.keys.jobDeadlines(jobId, 'in_progress'),
      jobRetryKey: this.keys.jobDeadlines(jobId, 'retry'),
    };
  }

  /**
   * The create: JOB_CREATE (behind the gate with an admission) writes the job when one script's
   * share of members covers its targets; otherwise it begins the job's build (or finds the
   * unfinished build of the same request under its Idempotency-Key) and this call runs
   * JOB_CREATE_STEP until the job is written, each step a bounded script of its own, outside the
   * gate (continuing the request the gate admitted, not counted again). The caller gets one
   * answer: created (or replayed) once the job is written. A failure midway throws, and leaves
   * nothing that can be seen: the build expires by itself, or a retry with the same key finishes it.
   */
  async create(admission: Admission | undefined, spec: JobSpec, request?: IdempotentRequest): Promise<CreateJobOutcome> {
    const { jobId } = spec;
    const answer = await call('createJob', () =>
      this.createScript(
        admission,
        {
          jobKey: this.keys.job(jobId),
          targetsKey: this.keys.jobTargets(jobId),
          jobsKey: this.keys.jobs(),
          jobSeqKey: this.keys.jobSeq(),
          idemKey: request === undefined ? '' : this.keys.jobIdempotency(request.sub, request.key),
          buildKey: this.keys.jobBuild(jobId),
          leaversKey: this.keys.jobLeavers(jobId),
        },
        {
          keyPrefix: this.keys.prefix,
          jobId,
          command: spec.command,
          args: JSON.stringify(spec.args),
          targets: JSON.stringify({ agents: spec.targets.agents, groups: spec.targets.groups }),
          createdAt: spec.createdAt,
          expiresAt: spec.expiresAt,
          timeoutMs: spec.timeoutMs ?? '',
          continuous: spec.continuous ? '1' : '0',
          specFields: specFieldsOf(spec),
          hasDescription: spec.description === undefined ? '0' : '1',
          description: spec.description ?? '',
          keepUntil: spec.expiresAt + this.retentionMs,
          useKey: request === undefined ? '0' : '1',
          fingerprint: request?.fingerprint ?? '',
          idemUntil: idempotentUntil(spec.createdAt, this.retentionMs),
          retentionMs: this.retentionMs,
          maxTargets: MAX_JOB_TARGETS,
          stepMembers: this.stepMembers,
          buildUntil: spec.createdAt + JOB_BUILD_KEEP_MS,
        },
      ),
    );
    const [outcome, first, second] = Array.isArray(answer) ? answer : [];
    if (outcome === 'created') return { outcome, job: createdSnapshot(spec, Number(first), Number(second)) };
    if (outcome === 'mismatch' || outcome === 'no_targets') return { outcome };
    if (outcome === 'too_many_targets') return { outcome, counted: Number(first) };
    if (outcome === 'building' && typeof first === 'string') return this.build(first, Number(second));
    const stored = toJobState(first);
    if (outcome === 'replayed' && stored !== undefined) {
      return { outcome, job: createdSnapshot(stored.state.spec, stored.state.seq, stored.initialTargets) };
    }
    throw new StoreUnavailableError(`Redis createJob returned an unknown answer (${typeof answer})`);
  }

  /** JOB_DRY_RUN: one read script, nothing written (behind the gate, the admission's count alone). */
  async dryRun(admission: Admission | undefined, targets: JobTargets, continuous: boolean): Promise<DryRunOutcome> {
    const answer = await call('dryRunJob', () =>
      this.dryRunScript(
        admission,
        {},
        {
          keyPrefix: this.keys.prefix,
          targets: JSON.stringify({ agents: targets.agents, groups: targets.groups }),
          continuous: continuous ? '1' : '0',
          maxTargets: MAX_JOB_TARGETS,
          exactTargets: DRY_RUN_EXACT_TARGETS,
        },
      ),
    );
    const [outcome, counted, distinct, members] = Array.isArray(answer) ? answer : [];
    if (outcome === 'no_targets') return { outcome };
    if (outcome === 'too_many_targets') return { outcome, counted: Number(counted) };
    if (outcome === 'ok' && Array.isArray(members)) {
      return {
        outcome,
        counted: Number(counted),
        members: members.map(Number),
        distinct: distinct === '' ? undefined : Number(distinct),
      };
    }
    throw new StoreUnavailableError(`Redis dryRunJob returned an unknown answer (${typeof answer})`);
  }

  /** The steps of the build of `jobId` from `step` steps done, until the job is written and its leavers indexed. */
  private async build(jobId: string, step: number): Promise<CreateJobOutcome> {
    const keys = {
      jobKey: this.keys.job(jobId),
      targetsKey: this.keys.jobTargets(jobId),
      jobsKey: this.keys.jobs(),
      jobSeqKey: this.keys.jobSeq(),
      buildKey: this.keys.jobBuild(jobId),
      leaversKey: this.keys.jobLeavers(jobId),
    };
    let done = step;
    for (;;) {
      await this.betweenSteps?.(jobId, done);
      // The call's own id, made once: the client's retry of this call sends the same, and the step answers it again.
      const stepCall = randomUUID();
      const answer = await call('createJob', () =>
        this.createStepScript(keys, { keyPrefix: this.keys.prefix, step: done, stepCall, stepMembers: this.stepMembers }),
      );
      const [outcome, value] = Array.isArray(answer) ? answer : [];
      if (outcome === 'more' && Number(value) >= done) {
        done = Number(value);
        continue;
      }
      if (outcome === 'gone') throw new StoreUnavailableError(`Redis createJob: the build of job ${jobId} expired before it was finished`);
      const stored = toJobState(value);
      if ((outcome === 'created' || outcome === 'replayed') && stored !== undefined) {
        return { outcome, job: createdSnapshot(stored.state.spec, stored.state.seq, stored.initialTargets) };
      }
      throw new StoreUnavailableError(`Redis createJob step returned an unknown answer (${typeof answer})`);
    }
  }

  async get(admission: Admission | undefined, jobId: string, now: number): Promise<JobSnapshot | undefined> {
    const answer = await call('getJob', () => this.getScript(admission, this.deadlineKeys(jobId), { now, retentionMs: this.retentionMs }));
    const [outcome, job] = Array.isArray(answer) ? answer : [];
    if (outcome === 'not_found') return undefined;
    if (outcome !== 'ok') throw new StoreUnavailableError(`Redis getJob returned an unknown answer (${typeof answer})`);
    const { state, timedOut } = toJobRead(job);
    return jobSnapshot(state, timedOut, now);
  }

  async list(admission: Admission | undefined, query: JobListQuery, now: number): Promise<JobListPage> {
    const answer = await call('listJobs', () =>
      this.listScript(
        admission,
        { jobsKey: this.keys.jobs() },
        {
          keyPrefix: this.keys.prefix,
          before: query.before,
          limit: query.limit,
          statuses: query.statuses?.join(',') ?? '',
          now,
          retentionMs: this.retentionMs,
          budget: query.budget ?? JOB_PAGE_BUDGET,
          pruneBudget: PAGE_BUDGET,
        },
      ),
    );
    const [rows, last] = Array.isArray(answer) ? answer : [];
    if (!Array.isArray(rows) || typeof last !== 'string')
      throw new StoreUnavailableError(`Redis listJobs returned an unknown answer (${typeof answer})`);
    const jobs = rows.map((row) => {
      const { state, timedOut } = toJobRead(row);
      return jobSnapshot(state, timedOut, now);
    });
    return { jobs, nextBefore: last === '' ? undefined : Number(last) };
  }

  async executions(
    admission: Admission | undefined,
    jobId: string,
    query: ExecutionQuery,
    now: number,
  ): Promise<ExecutionPage | undefined> {
    const answer = await call('listExecutions', () =>
      this.executionsScript(
        admission,
        {
          ...this.deadlineKeys(jobId),
          targetsKey: this.keys.jobTargets(jobId),
          execsKey: this.keys.jobExecs(jobId),
        },
        {
          keyPrefix: this.keys.prefix,
          jobId,
          after: query.after,
          limit: query.limit,
          statuses: query.statuses?.join(',') ?? '',
          now,
          retentionMs: this.retentionMs,
          budget: query.budget ?? PAGE_BUDGET,
        },
      ),
    );
    const [outcome, job, rows, last] = Array.isArray(answer) ? answer : [];
    if (outcome === 'not_found') return undefined;
    if (outcome !== 'ok' || !Array.isArray(rows) || typeof last !== 'string')
      throw new StoreUnavailableError(`Redis listExecutions returned an unknown answer (${typeof answer})`);
    const { state } = toJobRead(job);
    const executions = rows.map((row): ExecutionEntry => {
      const [agentId, status, flat, excerpt] = Array.isArray(row) ? row : [];
      if (!STATUSES.has(String(status))) throw new StoreUnavailableError('Redis listExecutions returned an unknown status');
      return toExecutionEntry(String(agentId), status as CommandStatus, toRecord(flat), excerpt, state, now);
    });
    return { executions, nextAfter: last === '' ? undefined : Number(last) };
  }

  /** JOB_EXECUTION: one target, as a listing shows it, with its execution's history. */
  async execution(admission: Admission | undefined, jobId: string, agentId: string, now: number): Promise<ExecutionDetail> {
    const answer = await call('getExecution', () =>
      this.executionScript(
        admission,
        {
          ...this.deadlineKeys(jobId),
          targetsKey: this.keys.jobTargets(jobId),
          execsKey: this.keys.jobExecs(jobId),
          commandKey: this.keys.command(agentId, jobId),
          queueKey: this.keys.queue(agentId),
          historyKey: this.keys.history(agentId, jobId),
        },
        { jobId, agentId, now, retentionMs: this.retentionMs },
      ),
    );
    const [outcome, job, status, flat, history, excerpt] = Array.isArray(answer) ? answer : [];
    if (outcome === 'not_found') return { outcome };
    if (outcome === 'no_target' || outcome === 'gone') return { outcome: 'no_target' };
    if (outcome !== 'ok' || !STATUSES.has(String(status)))
      throw new StoreUnavailableError(`Redis getExecution returned an unknown answer (${typeof answer})`);
    const { state } = toJobRead(job);
    const entry = toExecutionEntry(agentId, status as CommandStatus, toRecord(flat), excerpt, state, now);
    return { outcome, entry, history: toHistory(history) };
  }

  async cancel(admission: Admission | undefined, jobId: string, cancellation: JobCancellation): Promise<CancelJobOutcome> {
    const answer = await call('cancelJob', () =>
      this.cancelScript(admission, this.deadlineKeys(jobId), {
        hasReason: cancellation.reason === undefined ? '0' : '1',
        reason: cancellation.reason ?? '',
        force: cancellation.force ? '1' : '0',
        at: cancellation.at,
        retentionMs: this.retentionMs,
      }),
    );
    const [outcome, job] = Array.isArray(answer) ? answer : [];
    if (outcome === 'not_found') return { outcome };
    if (outcome !== 'accepted' && outcome !== 'refused')
      throw new StoreUnavailableError(`Redis cancelJob returned an unknown answer (${typeof answer})`);
    const { state, timedOut } = toJobRead(job);
    // The script met and ended the job at endInstant (lib/jobs/rules.ts); read it at that instant.
    const snapshot = jobSnapshot(state, timedOut, endInstant(state, cancellation.at));
    if (!JOB_STATUS_SET.has(snapshot.status)) throw new StoreUnavailableError('Redis cancelJob returned an unknown status');
    return { outcome, job: snapshot };
  }

  async pause(admission: Admission | undefined, jobId: string, change: JobPauseChange): Promise<PauseJobOutcome> {
    const answer = await call('pauseJob', () =>
      this.pauseScript(admission, this.deadlineKeys(jobId), {
        paused: change.paused ? '1' : '0',
        hasReason: change.reason === undefined ? '0' : '1',
        reason: change.reason ?? '',
        at: change.at,
        retentionMs: this.retentionMs,
      }),
    );
    const [outcome, job] = Array.isArray(answer) ? answer : [];
    if (outcome === 'not_found') return { outcome };
    if (outcome !== 'accepted' && outcome !== 'unchanged' && outcome !== 'refused')
      throw new StoreUnavailableError(`Redis pauseJob returned an unknown answer (${typeof answer})`);
    const { state, timedOut } = toJobRead(job);
    // The script met and changed the job at endInstant (lib/jobs/rules.ts); read it at that instant.
    return { outcome, job: jobSnapshot(state, timedOut, endInstant(state, change.at)) };
  }
}

/** The four stores on one client, as a backend (the runtime makes it once per process). */
export function upstashBackend(redis: Redis, options: UpstashStoreOptions & { resultRetentionSeconds: number }): StoreBackend {
  return {
    commands: new UpstashCommandStore(redis, options),
    revocations: new UpstashRevocationStore(redis, options),
    groups: new UpstashGroupStore(redis, options),
    jobs: new UpstashJobStore(redis, options),
    connections: new UpstashConnectionStore(redis, options),
  };
}

/** The stores on a client of their own, in both views (the operator CLI, tests). */
export function createUpstashStores(config: Config): Stores {
  return storeViews(upstashBackend(createRedisClient(config), config));
}
