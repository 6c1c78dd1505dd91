/**
 * Upstash Redis implementations of the store interfaces, with the same behaviour as the
 * in-memory store (lib/store/memory.ts). One `@upstash/redis` client per process, shared by both
 * stores; every store method is one Redis command (a plain command or one Lua script run with
 * EVALSHA), so one HTTP round trip, and every multi-step change is atomic on the server.
 *
 * Key layout (`<p>` is REDIS_KEY_PREFIX, default `biz:`; `<agent>` is the agent id with `%`
 * written `%25` and `:` written `%3A`, so that a `:` in an id can never make two keys meet;
 * ordinary ids such as `agent-001` or `fleet@eu.1` are unchanged):
 *
 *   <p>revoked:jti:<jti>          string "1"            revoked token; EXPIREAT = the token's exp + clock leeway
 *   <p>revoked:sub:<sub>          string <epoch s>       cut-off: tokens of <sub> with iat <= it are revoked;
 *                                                         only ever raised; no TTL (see revokeSubject)
 *   <p>active:jti:<jti>           string "1"            allowlist mode only: the token is accepted while this
 *                                                         exists; written by the auth server (registerToken here)
 *   <p>cmd:<agent>:<commandId>    hash                   one command: commandId, agentId, command, args (JSON,
 *                                                         kept byte for byte), createdAt, expiresAt (epoch ms),
 *                                                         then deliveredAt, resultStatus, resultJson, completedAt;
 *                                                         PEXPIREAT = expiresAt + retention, and once finished
 *                                                         completedAt + retention (RESULT_RETENTION_SECONDS)
 *   <p>queue:<agent>              sorted set             the agent's unfinished commands (member = commandId),
 *                                                         score = enqueue sequence (1, 2, 3, ...): exact
 *                                                         enqueue order, as the in-memory store, whatever the
 *                                                         clocks of the Lambda instances say; finished commands
 *                                                         leave it at once, expired ones when fetch meets them;
 *                                                         PEXPIREAT = the latest end of any member's hash
 *   <p>config:<agent>             string (JSON)          the agent's config overrides; no TTL
 *
 * Times passed to the stores (now, createdAt, completedAt) come from the runtime's clock, and
 * the Lua scripts decide with them, never with Redis's own clock, exactly like the in-memory
 * store. TTLs are set as absolute times from the same values.
 *
 * Every failure of the client (network, timeout, HTTP status, Redis error) becomes a
 * StoreUnavailableError with the cause: the edge answers 503, and a revocation check that
 * cannot be made never reads as "not revoked".
 */
import { Redis } from '@upstash/redis';
import { type Config, ConfigError } from '../config.ts';
import type { CommandRecord, CompleteOutcome, NewCommand, ResultSubmission } from '../commands/model.ts';
import { type CommandStore, type RevocationStore, StoreUnavailableError, type TokenIdentity } from './types.ts';

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
 *   one round trip, its own timeout and its own error (a Lambda serves one request at a time).
 *   With auto-pipelining on it would not merge the revocation MGET with the rate limiter's
 *   EVALSHA anyway: the client keeps reads and writes in separate pipelines.
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
  return new Redis({
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
}

/** Runs one client call; any failure becomes a StoreUnavailableError carrying the cause. */
async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new StoreUnavailableError(`Redis ${what} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/** `%` → `%25` and `:` → `%3A`: unambiguous, never throws (encodeURIComponent does on lone surrogates). */
const agentPart = (agentId: string) => agentId.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));

// --- Lua -------------------------------------------------------------------------------------
// Numbers that go back into Redis are passed in as strings from TypeScript (never formatted by
// Lua, whose tostring would write large numbers in exponent form).

/** KEYS: cmd, queue. ARGV: commandId, agentId, command, args, createdAt, expiresAt, end (ms). */
const ENQUEUE = `
local key, queue = KEYS[1], KEYS[2]
redis.call('DEL', key)
redis.call('HSET', key, 'commandId', ARGV[1], 'agentId', ARGV[2], 'command', ARGV[3], 'args', ARGV[4],
  'createdAt', ARGV[5], 'expiresAt', ARGV[6])
redis.call('PEXPIREAT', key, ARGV[7])
if not redis.call('ZSCORE', queue, ARGV[1]) then
  local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
  local seq = 1
  if last[2] then seq = tonumber(last[2]) + 1 end
  redis.call('ZADD', queue, string.format('%d', seq), ARGV[1])
end
if redis.call('PEXPIREAT', queue, ARGV[7], 'NX') == 0 then redis.call('PEXPIREAT', queue, ARGV[7], 'GT') end
return 1
`;

/**
 * KEYS: queue. ARGV: cmd key prefix of the agent, limit, now (ms), retention (ms).
 * Walks the queue oldest first; drops what can no longer be delivered (hash gone, finished,
 * expired: an expired hash stays for get/complete until its retention ends); stamps
 * deliveredAt once; returns up to limit flat HGETALL arrays.
 */
const FETCH = `
local queue, prefix = KEYS[1], ARGV[1]
local limit, now, retention = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local start = 0
while #out < limit do
  local ids = redis.call('ZRANGE', queue, start, start + 99)
  if #ids == 0 then break end
  local dropped = 0
  for _, id in ipairs(ids) do
    local key = prefix .. id
    local f = redis.call('HMGET', key, 'expiresAt', 'resultStatus', 'deliveredAt')
    local expiresAt = tonumber(f[1])
    if not expiresAt or f[2] or expiresAt <= now then
      redis.call('ZREM', queue, id)
      dropped = dropped + 1
      if expiresAt and not f[2] and expiresAt + retention <= now then redis.call('DEL', key) end
    else
      if not f[3] then redis.call('HSET', key, 'deliveredAt', ARGV[3]) end
      out[#out + 1] = redis.call('HGETALL', key)
      if #out >= limit then break end
    end
  end
  start = start + #ids - dropped
end
return out
`;

/**
 * KEYS: cmd, queue. ARGV: commandId, agentId, status, hasResult ('1'|'0'), resultJson,
 * completedAt (ms), retention (ms), completedAt + retention (ms).
 */
const COMPLETE = `
local key, queue = KEYS[1], KEYS[2]
local f = redis.call('HMGET', key, 'agentId', 'expiresAt', 'completedAt', 'resultStatus', 'resultJson')
if not f[2] or f[1] ~= ARGV[2] then return 'not_found' end
local now = tonumber(ARGV[6])
local expiresAt = tonumber(f[2])
if tonumber(f[3] or f[2]) + tonumber(ARGV[7]) <= now then
  redis.call('DEL', key)
  redis.call('ZREM', queue, ARGV[1])
  return 'not_found'
end
if f[4] then
  local same = f[4] == ARGV[3] and ((ARGV[4] == '1' and f[5] == ARGV[5]) or (ARGV[4] == '0' and not f[5]))
  if same then return 'duplicate' end
  return 'conflict'
end
if expiresAt <= now then return 'expired' end
redis.call('HSET', key, 'resultStatus', ARGV[3], 'completedAt', ARGV[6])
if ARGV[4] == '1' then redis.call('HSET', key, 'resultJson', ARGV[5]) end
redis.call('PEXPIREAT', key, ARGV[8])
redis.call('ZREM', queue, ARGV[1])
return 'accepted'
`;

/** KEYS: revoked:sub. ARGV: cut-off (epoch s). Keeps the latest cut-off. */
const RAISE_CUTOFF = `
local current = tonumber(redis.call('GET', KEYS[1]))
if not current or current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;

const OUTCOMES: ReadonlySet<string> = new Set(['accepted', 'duplicate', 'conflict', 'expired', 'not_found']);

/** A flat HGETALL array to a CommandRecord; undefined when empty. */
function toRecord(flat: unknown): CommandRecord | undefined {
  if (!Array.isArray(flat) || flat.length === 0) return undefined;
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), String(flat[i + 1]));
  const required = (name: string) => {
    const value = fields.get(name);
    if (value === undefined) throw new StoreUnavailableError(`Redis command hash lacks the field ${name}`);
    return value;
  };
  const delivered = fields.get('deliveredAt');
  const completed = fields.get('completedAt');
  const resultStatus = fields.get('resultStatus');
  const resultJson = fields.get('resultJson');
  return {
    commandId: required('commandId'),
    agentId: required('agentId'),
    command: required('command'),
    args: JSON.parse(required('args')) as Record<string, unknown>,
    createdAt: Number(required('createdAt')),
    expiresAt: Number(required('expiresAt')),
    ...(delivered === undefined ? {} : { deliveredAt: Number(delivered) }),
    ...(resultStatus === 'completed' || resultStatus === 'failed' ? { resultStatus } : {}),
    ...(resultJson === undefined ? {} : { resultJson }),
    ...(completed === undefined ? {} : { completedAt: Number(completed) }),
  };
}

export class UpstashCommandStore implements CommandStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly retentionMs: number;
  private readonly enqueueScript;
  private readonly fetchScript;
  private readonly completeScript;

  constructor(redis: Redis, options: { redisKeyPrefix: string; resultRetentionSeconds: number }) {
    this.redis = redis;
    this.prefix = options.redisKeyPrefix;
    this.retentionMs = options.resultRetentionSeconds * 1000;
    this.enqueueScript = redis.createScript<number>(ENQUEUE);
    this.fetchScript = redis.createScript<unknown[]>(FETCH);
    this.completeScript = redis.createScript<string>(COMPLETE);
  }

  private commandKey(agentId: string, commandId: string): string {
    return `${this.commandPrefix(agentId)}${commandId}`;
  }

  private commandPrefix(agentId: string): string {
    return `${this.prefix}cmd:${agentPart(agentId)}:`;
  }

  private queueKey(agentId: string): string {
    return `${this.prefix}queue:${agentPart(agentId)}`;
  }

  async enqueue(command: NewCommand): Promise<void> {
    const { commandId, agentId } = command;
    await call('enqueue', () =>
      this.enqueueScript.exec(
        [this.commandKey(agentId, commandId), this.queueKey(agentId)],
        [
          commandId,
          agentId,
          command.command,
          JSON.stringify(command.args),
          String(command.createdAt),
          String(command.expiresAt),
          String(command.expiresAt + this.retentionMs),
        ],
      ),
    );
  }

  async fetch(agentId: string, limit: number, now: number): Promise<CommandRecord[]> {
    if (limit < 1) return [];
    const rows = await call('fetch', () =>
      this.fetchScript.exec([this.queueKey(agentId)], [this.commandPrefix(agentId), String(limit), String(now), String(this.retentionMs)]),
    );
    if (!Array.isArray(rows)) throw new StoreUnavailableError('Redis fetch returned no list');
    return rows.map(toRecord).filter((record): record is CommandRecord => record !== undefined);
  }

  async complete(agentId: string, commandId: string, submission: ResultSubmission): Promise<CompleteOutcome> {
    const outcome = await call('complete', () =>
      this.completeScript.exec(
        [this.commandKey(agentId, commandId), this.queueKey(agentId)],
        [
          commandId,
          agentId,
          submission.status,
          submission.resultJson === undefined ? '0' : '1',
          submission.resultJson ?? '',
          String(submission.completedAt),
          String(this.retentionMs),
          String(submission.completedAt + this.retentionMs),
        ],
      ),
    );
    if (typeof outcome !== 'string' || !OUTCOMES.has(outcome)) {
      throw new StoreUnavailableError(`Redis complete returned ${JSON.stringify(outcome)}`);
    }
    return outcome as CompleteOutcome;
  }

  async get(agentId: string, commandId: string): Promise<CommandRecord | undefined> {
    const flat = await call('get', () => this.redis.hgetall(this.commandKey(agentId, commandId)));
    const record = toRecord(flat);
    return record?.agentId === agentId ? record : undefined;
  }

  async getConfig(agentId: string): Promise<Record<string, unknown> | undefined> {
    const raw = await call('getConfig', () => this.redis.get<string>(`${this.prefix}config:${agentPart(agentId)}`));
    return raw === null || raw === undefined ? undefined : (JSON.parse(raw) as Record<string, unknown>);
  }

  async putConfig(agentId: string, overrides: Record<string, unknown>): Promise<void> {
    await call('putConfig', () => this.redis.set(`${this.prefix}config:${agentPart(agentId)}`, JSON.stringify(overrides)));
  }
}

/** Beyond this (about 31 million years) Redis refuses EXAT (its limit is ~9.2e15 s): keep such an entry for good. */
const MAX_EXAT_SECONDS = 1e15;

/** SET options for an entry that ends at `expiresAt` (epoch s); already past: gone at once. */
function expiry(expiresAt: number): { exat: number } | undefined {
  if (!(expiresAt < MAX_EXAT_SECONDS)) return undefined; // also NaN: never silently "not revoked"
  return { exat: Math.max(1, Math.ceil(expiresAt)) };
}

export class UpstashRevocationStore implements RevocationStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly allowlist: boolean;
  private readonly raiseCutoff;

  constructor(redis: Redis, options: { redisKeyPrefix: string; revocationMode: Config['revocationMode'] }) {
    this.redis = redis;
    this.prefix = options.redisKeyPrefix;
    this.allowlist = options.revocationMode === 'allowlist';
    this.raiseCutoff = redis.createScript<number>(RAISE_CUTOFF);
  }

  /** One MGET: revoked:jti, revoked:sub and (allowlist mode) active:jti. */
  async isRevoked(token: TokenIdentity): Promise<boolean> {
    if (token.jti === undefined && this.allowlist) return true; // cannot be registered
    const keys = [`${this.prefix}revoked:sub:${token.sub}`];
    if (token.jti !== undefined) {
      keys.push(`${this.prefix}revoked:jti:${token.jti}`);
      if (this.allowlist) keys.push(`${this.prefix}active:jti:${token.jti}`);
    }
    const values = await call('isRevoked', () => this.redis.mget<(string | null)[]>(...keys));
    if (!Array.isArray(values) || values.length !== keys.length) {
      throw new StoreUnavailableError(`Redis MGET returned ${JSON.stringify(values)}`);
    }
    const [cutoffRaw, revokedJti, active] = values;
    if (token.jti !== undefined) {
      if (revokedJti !== null && revokedJti !== undefined) return true;
      if (this.allowlist && (active === null || active === undefined)) return true;
    }
    if (cutoffRaw === null || cutoffRaw === undefined) return false;
    const cutoff = Number(cutoffRaw);
    // A token without iat cannot show it was issued after the cut-off.
    return token.iat === undefined || !Number.isFinite(cutoff) || token.iat <= cutoff;
  }

  /** SET ... EXAT: the entry goes by itself at expiresAt (already past: gone at once, as in memory). */
  async revokeToken(jti: string, expiresAt: number): Promise<void> {
    await call('revokeToken', () => this.redis.set(`${this.prefix}revoked:jti:${jti}`, '1', expiry(expiresAt)));
  }

  /**
   * Raises the cut-off, never lowers it. No TTL: the verifier puts no upper bound on a token's
   * lifetime, so any expiry could bring a revoked token back; it is one small key per subject
   * an operator revoked (delete it by hand once the subject's old tokens have all expired).
   */
  async revokeSubject(sub: string, cutoff: number): Promise<void> {
    await call('revokeSubject', () => this.raiseCutoff.exec([`${this.prefix}revoked:sub:${sub}`], [String(Math.floor(cutoff))]));
  }

  /** Allowlist mode: registers an issued token as active until expiresAt (what the auth server does). */
  async registerToken(jti: string, expiresAt: number): Promise<void> {
    await call('registerToken', () => this.redis.set(`${this.prefix}active:jti:${jti}`, '1', expiry(expiresAt)));
  }
}

/** Both stores on one client, made once per process by the runtime (which also hands the client to the rate limiter). */
export function createUpstashStores(config: Config): { redis: Redis; commands: UpstashCommandStore; revocations: UpstashRevocationStore } {
  const redis = createRedisClient(config);
  return {
    redis,
    commands: new UpstashCommandStore(redis, config),
    revocations: new UpstashRevocationStore(redis, config),
  };
}
