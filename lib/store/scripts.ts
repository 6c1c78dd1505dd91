/**
 * The Lua scripts of the Upstash store, each a named constant that says which pure function it
 * mirrors (lib/commands/lifecycle.ts, lib/auth/revocation.ts, lib/store/ratelimit.ts,
 * lib/groups/membership.ts, lib/jobs/rules.ts); test/stores/parity.test.ts runs them against those
 * functions on random histories, and the job suites run the job scripts against the memory store.
 *
 * Inputs are named: `script()` binds every KEYS and ARGV entry to a local of that name at the top
 * of the script, in the order given, and refuses a body that reaches into KEYS or ARGV itself;
 * the caller passes its values by name through `inputsOf()`, so no position is written twice.
 * Every input arrives as a string. Numbers that go back into Redis are passed in as the decimal
 * strings TypeScript wrote (Lua's tostring would write large numbers in exponent form); the body
 * calls tonumber only where it compares.
 *
 * Key locking (Upstash): a script marked `lockKeys` starts with `#!lua flags=allow-key-locking`
 * and then touches only the keys it declares, so Upstash locks those keys instead of the whole
 * database while it runs (test/stores/key-locking.test.ts checks every key such a script touches with
 * Redis MONITOR). Redis 7 does not know the flag: the local Upstash bridge strips it, as Upstash's
 * dialect meets Redis there (dev/). The scripts that read keys known only once they run cannot be
 * marked and run under the global lock: FETCH and LIST read the hash of every command the queue
 * or the log names (and FETCH the jobs of the agent's groups and agent-jobs), ENQUEUE and
 * JOB_CREATE with an idempotency key read what that key made (JOB_CREATE also the groups it
 * names and their group-jobs), JOB_LIST the job of each listing entry, JOB_EXECUTIONS the
 * execution of each target, GROUP_JOIN and GROUP_LEAVE the jobs of the group. COMPLETE, CANCEL
 * and GET_COMMAND declare the keys of the job a command may be the execution of from the command
 * id (an execution's command id is its job id; for a plain command those keys do not exist);
 * JOB_GET and JOB_CANCEL declare the job's keys: these keep the flag.
 *
 * The admission gate (`gated()`): every agent and operator request runs its action inside one
 * script whose preamble first takes the revocation decision and counts the rate limit, and only
 * then runs the action; a refusal returns before the action has read or written anything.
 */

import { COMMAND_STATUSES } from '../commands/model.ts';
import { ROLLOUT_WINDOW_MS } from '../jobs/model.ts';
import { ABORT_REASON, JOB_CANCEL_REASON } from '../jobs/rules.ts';

export interface LuaScript<K extends string = string, A extends string = string> {
  /** The pure function(s) the script mirrors. */
  readonly mirrors: string;
  readonly keys: readonly K[];
  readonly args: readonly A[];
  /** Declares every key it touches: sent with Upstash's allow-key-locking flag. */
  readonly lockKeys: boolean;
  /** The whole script as sent to Redis: the flags line, the bindings, then the body. */
  readonly lua: string;
  /** The body alone (for composition by gated()). */
  readonly body: string;
}

/** Upstash's flag for a script that declares every key it touches. */
export const KEY_LOCKING_FLAG = 'allow-key-locking';

const LUA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LUA_RESERVED = new Set(
  'and break do else elseif end false for function if in local nil not or repeat return then true until while'.split(' '),
);

function assemble(keys: readonly string[], args: readonly string[], lockKeys: boolean, body: string): string {
  const names = [...keys, ...args];
  for (const name of names) {
    if (!LUA_NAME.test(name) || LUA_RESERVED.has(name)) throw new Error(`not a Lua local name: ${name}`);
  }
  if (new Set(names).size !== names.length) throw new Error(`a script input is named twice: ${names.join(', ')}`);
  if (/\b(KEYS|ARGV)\s*\[/.test(body)) throw new Error('a script body uses its inputs by name, never KEYS[i] or ARGV[i]');
  for (const name of names) {
    if (new RegExp(`\\blocal\\s+(function\\s+)?${name}\\b`).test(body)) throw new Error(`the body hides the input ${name}`);
  }
  const lines = [
    ...(lockKeys ? [`#!lua flags=${KEY_LOCKING_FLAG}`] : []),
    ...keys.map((name, i) => `local ${name} = KEYS[${i + 1}]`),
    ...args.map((name, i) => `local ${name} = ARGV[${i + 1}]`),
  ];
  return `${lines.join('\n')}\n${body.trim()}\n`;
}

function script<const K extends string, const A extends string>(definition: {
  mirrors: string;
  keys: readonly K[];
  args: readonly A[];
  lockKeys: boolean;
  body: string;
}): LuaScript<K, A> {
  const body = definition.body.trim();
  return { ...definition, body, lua: assemble(definition.keys, definition.args, definition.lockKeys, body) };
}

/** KEYS and ARGV in the script's order, from values given by name. */
export function inputsOf<K extends string, A extends string>(
  lua: LuaScript<K, A>,
  keys: Readonly<Record<K, string>>,
  args: Readonly<Record<A, string | number>>,
): { keys: string[]; args: string[] } {
  return {
    keys: lua.keys.map((name) => keys[name]),
    args: lua.args.map((name) => String(args[name])),
  };
}

/**
 * The gate's inputs. Keys: the subject's cut-off, the jti's denylist entry and allowlist
 * registration, this and the previous rate-limit window's counters (always declared, read only
 * where the mode and settings need them). Args: `mode` is 'denylist' or 'allowlist'; `hasJti`
 * and `hasIat` are '1' or '0'; `limitRequests` is '0' when the rate limit is off; `limitWindow`
 * is the window's index (lib/store/ratelimit.ts windowOf) and `limitExpireAt` when its counter
 * may go (the end of the next window, epoch ms); `limitNow` the caller's clock (epoch ms).
 */
export const GATE_KEYS = ['gateCutoffKey', 'gateRevokedKey', 'gateActiveKey', 'gateLimitKey', 'gateLimitPreviousKey'] as const;
export const GATE_ARGS = [
  'gateMode',
  'gateHasJti',
  'gateIat',
  'gateHasIat',
  'limitRequests',
  'limitWindowMs',
  'limitWindow',
  'limitExpireAt',
  'limitNow',
] as const;
export type GateKey = (typeof GATE_KEYS)[number];
export type GateArg = (typeof GATE_ARGS)[number];

/**
 * The preamble. Mirrors isRevoked (lib/auth/revocation.ts: the unread allowlist case, the jti's
 * denylist entry, the allowlist registration, then the cut-off, where an unreadable cut-off or a
 * missing iat revokes: fail closed) and slidingWindow (lib/store/ratelimit.ts). A live entry is
 * one whose key exists: Redis drops it at its EXAT, as isLive does in memory.
 *
 * The counter's INCR runs under pcall: when Redis refuses writes but still answers (OOM under
 * noeviction, a read-only replica after a failover), the request goes on uncounted and the
 * script says so (`limitNote` 1, logged once per window by the store); the action then fails by
 * itself if it needs to write. Every other failure fails the whole script: nothing is let through
 * whose revocation state is unknown.
 */
const GATE_PREAMBLE = `
local function gateRevoked()
  if gateHasJti == '0' then
    if gateMode == 'allowlist' then return true end
  else
    if redis.call('EXISTS', gateRevokedKey) == 1 then return true end
    if gateMode == 'allowlist' and redis.call('EXISTS', gateActiveKey) == 0 then return true end
  end
  local gateStored = redis.call('GET', gateCutoffKey)
  if not gateStored then return false end
  local gateCutoff = tonumber(gateStored)
  if gateHasIat == '0' or not gateCutoff or gateCutoff ~= gateCutoff or gateCutoff == math.huge or gateCutoff == -math.huge then
    return true
  end
  return tonumber(gateIat) <= gateCutoff
end
if gateRevoked() then return {'revoked'} end
local limitNote = 0
local limitMax = tonumber(limitRequests)
if limitMax > 0 then
  local limitMs, limitIndex, limitAt = tonumber(limitWindowMs), tonumber(limitWindow), tonumber(limitNow)
  local limitCurrent = tonumber(redis.call('GET', gateLimitKey)) or 0
  local limitPrevious = tonumber(redis.call('GET', gateLimitPreviousKey)) or 0
  local limitOverlap = 1 - (limitAt - limitIndex * limitMs) / limitMs
  if math.floor(limitPrevious * limitOverlap) + limitCurrent >= limitMax then return {'rate_limited', (limitIndex + 1) * limitMs} end
  local limitCounted = redis.pcall('INCR', gateLimitKey)
  if type(limitCounted) == 'table' and limitCounted.err then
    limitNote = 1
  else
    redis.pcall('PEXPIREAT', gateLimitKey, limitExpireAt)
  end
end
`;

/**
 * The action run behind the gate, one script: returns {'revoked'}, {'rate_limited', reset} or
 * {'ok', limitNote, <what the action returns>}. Declares the gate's keys and the action's, so
 * it locks keys exactly when the action does.
 */
export function gated<K extends string, A extends string>(action: LuaScript<K, A>): LuaScript<K | GateKey, A | GateArg> {
  const keys = [...GATE_KEYS, ...action.keys];
  const args = [...GATE_ARGS, ...action.args];
  const body = `${GATE_PREAMBLE.trim()}\nlocal function action()\n${action.body}\nend\nreturn {'ok', limitNote, action()}`;
  return {
    mirrors: `the gate (isRevoked, slidingWindow), then ${action.mirrors}`,
    keys,
    args,
    lockKeys: action.lockKeys,
    body,
    lua: assemble(keys, args, action.lockKeys, body),
  };
}

/** The gate alone, for requests whose handler touches no store (whoami, token-info). */
export const ADMIT = script({
  mirrors: 'storage only: the gate (isRevoked, slidingWindow) is all it runs',
  keys: [],
  args: [],
  lockKeys: true,
  body: 'return 1',
});

/**
 * The lifecycle rules the command scripts share, as Lua functions named after the pure functions
 * they mirror (lib/commands/lifecycle.ts). Every argument is a number or nil (a field not set),
 * except the statuses.
 */
const LIFECYCLE_LUA = `
local function timeEnd(expiresAt, deadlineAt)
  if deadlineAt and deadlineAt < expiresAt then return 'timed_out', deadlineAt end
  return 'expired', expiresAt
end
local function statusOf(resultStatus, expiresAt, deadlineAt, startedAt, deliveredAt, at)
  if resultStatus then return resultStatus end
  local endStatus, endAt = timeEnd(expiresAt, deadlineAt)
  if endAt <= at then return endStatus end
  if startedAt then return 'in_progress' end
  if deliveredAt then return 'delivered' end
  return 'pending'
end
local function isTerminal(status)
  return status ~= 'pending' and status ~= 'delivered' and status ~= 'in_progress'
end
local function goneAt(completedAt, expiresAt, deadlineAt, retention)
  if completedAt then return completedAt + retention end
  local _, endAt = timeEnd(expiresAt, deadlineAt)
  return endAt + retention
end
local function ms(value) return string.format('%d', value) end
`;

/** The hash fields the rules read, in this order, by every script below. */
const RULE_FIELDS = `'expiresAt', 'deadlineAt', 'completedAt', 'resultStatus', 'startedAt', 'deliveredAt', 'timeoutMs', 'jobId'`;
const READ_RULE_FIELDS = `
local function ruleFields(key)
  local f = redis.call('HMGET', key, ${RULE_FIELDS})
  return { expiresAt = tonumber(f[1]), deadlineAt = tonumber(f[2]), completedAt = tonumber(f[3]), resultStatus = f[4],
    startedAt = tonumber(f[5]), deliveredAt = tonumber(f[6]), timeoutMs = tonumber(f[7]), jobId = f[8] or nil }
end
local function statusAt(r, at) return statusOf(r.resultStatus, r.expiresAt, r.deadlineAt, r.startedAt, r.deliveredAt, at) end
local function goneOf(r, retention) return goneAt(r.completedAt, r.expiresAt, r.deadlineAt, retention) end
-- The agent's command, not gone (isGone); a gone one is dropped on the way. nil: not_found.
local function liveCommand(commandKey, queueKey, commandId, agentId, now, retention)
  if redis.call('HGET', commandKey, 'agentId') ~= agentId then return nil end
  local r = ruleFields(commandKey)
  if not r.expiresAt then return nil end
  if goneOf(r, retention) <= now then
    redis.call('DEL', commandKey)
    redis.call('ZREM', queueKey, commandId)
    return nil
  end
  return r
end
`;

/**
 * Where a command goes at the end of its agent's queue and log: the next sequence from the
 * agent's counter (one already in the log keeps its own), both sets kept until `keepUntil` at the
 * latest. Shared by ENQUEUE and by FETCH when it makes an execution.
 */
const APPEND_LUA = `
local function appendCommand(queueKey, logKey, seqKey, commandId, keepUntil)
  local seq = redis.call('ZSCORE', logKey, commandId)
  if not seq then
    seq = redis.call('INCR', seqKey)
    -- A queue written before the counter existed: carry on after its last sequence.
    local last = redis.call('ZRANGE', queueKey, -1, -1, 'WITHSCORES')
    if last[2] and tonumber(last[2]) >= seq then
      seq = tonumber(last[2]) + 1
      redis.call('SET', seqKey, ms(seq))
    end
    seq = ms(seq)
  end
  redis.call('ZADD', queueKey, seq, commandId)
  redis.call('ZADD', logKey, seq, commandId)
  for _, key in ipairs({ queueKey, logKey }) do
    if redis.call('PEXPIREAT', key, keepUntil, 'NX') == 0 then redis.call('PEXPIREAT', key, keepUntil, 'GT') end
  end
end
`;

/**
 * The keys of lib/store/keys.ts that a script builds itself, for jobs, groups and agents it learns
 * while running: keyPart as there, from the prefix `<p>` the caller passes.
 */
const KEYS_LUA = `
local function keyPart(id) return (string.gsub(id, '[%%:]', { ['%'] = '%25', [':'] = '%3A' })) end
local function jobKeysOf(prefix, jobId)
  local part = keyPart(jobId)
  return { job = prefix .. 'job:' .. part, targets = prefix .. 'job-targets:' .. part, execs = prefix .. 'job-execs:' .. part,
    rollout = prefix .. 'job-rollout:' .. part, delivered = prefix .. 'job-deadlines:' .. part .. ':delivered',
    inProgress = prefix .. 'job-deadlines:' .. part .. ':in_progress' }
end
local function groupKeyOf(prefix, group) return prefix .. 'group:' .. keyPart(group) end
local function groupJobsKeyOf(prefix, group) return prefix .. 'group-jobs:' .. keyPart(group) end
local function agentJobsKeyOf(prefix, agentId) return prefix .. 'agent-jobs:' .. keyPart(agentId) end
`;

/**
 * The job rules the scripts share (lib/jobs/rules.ts), as Lua functions named after the pure
 * functions they mirror, over the job's hash (`<p>job:<job>`) and its two deadline sets. A job
 * read by jobState is a table of numbers (nil for a field not set), `continuous` a boolean and
 * `jobEnd` its written end (rules JobEnd) or nil. Needs LIFECYCLE_LUA and READ_RULE_FIELDS.
 */
const JOB_LUA = `
local COUNT_NAMES = { ${COMMAND_STATUSES.map((name) => `'${name}'`).join(', ')} }
local function num(value) if value then return tonumber(value) end return nil end
local function jobState(jobKey)
  local f = redis.call('HMGET', jobKey, 'expiresAt', 'continuous', 'abortPercent', 'abortMin', 'targets', 'materialized',
    'delivered', 'inProgress', 'completed', 'failed', 'rejected', 'canceled', 'updatedAt', 'lastEndAt', 'rolloutMax',
    'endStatus', 'endAt', 'endReason', 'endForce', 'endUndelivered', 'endFinal')
  if not f[1] then return nil end
  local j = { expiresAt = tonumber(f[1]), continuous = f[2] == '1', abortPercent = num(f[3]), abortMin = num(f[4]),
    targets = tonumber(f[5]), materialized = tonumber(f[6]), delivered = tonumber(f[7]), inProgress = tonumber(f[8]),
    completed = tonumber(f[9]), failed = tonumber(f[10]), rejected = tonumber(f[11]), canceled = tonumber(f[12]),
    updatedAt = tonumber(f[13]), lastEndAt = num(f[14]), rolloutMax = num(f[15]) }
  if f[16] then
    j.jobEnd = { status = f[16], at = tonumber(f[17]), reason = f[18] or nil, force = f[19] == '1', undelivered = tonumber(f[20]) }
    if f[21] then j.jobEnd.final = cjson.decode(f[21]) end
  end
  return j
end
-- TimedOutTally (lib/jobs/model.ts): executions by phase whose deadline is at or before \`at\`, and the latest such deadline.
local function timedOutAt(jk, at)
  local lastAt = nil
  for _, key in ipairs({ jk.delivered, jk.inProgress }) do
    local top = redis.call('ZREVRANGEBYSCORE', key, ms(at), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if top[2] and (not lastAt or tonumber(top[2]) > lastAt) then lastAt = tonumber(top[2]) end
  end
  return { delivered = redis.call('ZCOUNT', jk.delivered, '-inf', ms(at)), inProgress = redis.call('ZCOUNT', jk.inProgress, '-inf', ms(at)),
    lastAt = lastAt }
end
local function countsAt(j, t, at)
  if j.jobEnd and j.jobEnd.final then return j.jobEnd.final end
  local undelivered = 0
  if j.jobEnd then undelivered = j.jobEnd.undelivered end
  local delivered, inProgress = j.delivered - t.delivered, j.inProgress - t.inProgress
  local pending, expired = j.targets - j.materialized - undelivered, 0
  if at >= j.expiresAt then
    expired = delivered + inProgress + pending
    delivered, inProgress, pending = 0, 0, 0
  end
  return { pending = pending, delivered = delivered, in_progress = inProgress, completed = j.completed, failed = j.failed,
    rejected = j.rejected, timed_out = t.delivered + t.inProgress, canceled = j.canceled + undelivered, expired = expired }
end
local function terminalCount(c) return c.completed + c.failed + c.rejected + c.timed_out + c.canceled + c.expired end
local function failureCount(c) return c.failed + c.rejected + c.timed_out end
local function judgedCount(c) return terminalCount(c) - c.expired end
local function shouldAbort(j, c)
  if not j.abortPercent then return false end
  local judged = judgedCount(c)
  return judged >= j.abortMin and judged > 0 and 100 * failureCount(c) >= j.abortPercent * judged
end
local function jobStatusAt(j, c, at)
  if j.jobEnd then return j.jobEnd.status end
  if shouldAbort(j, c) then return 'aborted' end
  if j.continuous then
    if at >= j.expiresAt then return 'completed' end
    return 'in_progress'
  end
  if c.pending + c.delivered + c.in_progress == 0 then return 'completed' end
  return 'in_progress'
end
local function abortAt(j, c, at)
  if j.jobEnd or not shouldAbort(j, c) then return nil end
  return { status = 'aborted', at = at, reason = '${ABORT_REASON}', force = false, undelivered = c.pending }
end
local function countsJson(c)
  local parts = {}
  for i, name in ipairs(COUNT_NAMES) do parts[i] = '"' .. name .. '":' .. ms(c[name]) end
  return '{' .. table.concat(parts, ',') .. '}'
end
-- ended (rules): the end written on the job, the change stamped.
local function ended(jobKey, j, e)
  redis.call('HSET', jobKey, 'endStatus', e.status, 'endAt', ms(e.at), 'endForce', e.force and '1' or '0', 'endUndelivered', ms(e.undelivered))
  if e.reason then redis.call('HSET', jobKey, 'endReason', e.reason) end
  if e.final then redis.call('HSET', jobKey, 'endFinal', countsJson(e.final)) end
  if e.at > j.updatedAt then
    j.updatedAt = e.at
    redis.call('HSET', jobKey, 'updatedAt', ms(e.at))
  end
  j.jobEnd = e
end
-- The job met at \`at\`: its state, timed-out tally and counts, with abortAt written first when reached. nil: no job.
local function jobAt(jk, at)
  local j = jobState(jk.job)
  if not j then return nil end
  local t = timedOutAt(jk, at)
  local c = countsAt(j, t, at)
  local e = abortAt(j, c, at)
  if e then
    ended(jk.job, j, e)
    c = countsAt(j, t, at)
  end
  return j, t, c
end
-- What the store hands back for a job: its hash and the timed-out tally (rules jobSnapshot is taken from them).
local function jobAnswer(jk, t)
  local lastAt = ''
  if t.lastAt then lastAt = ms(t.lastAt) end
  return { redis.call('HGETALL', jk.job), t.delivered, t.inProgress, lastAt }
end
local function undeliveredStatus(j, at)
  if j.jobEnd and j.jobEnd.at < j.expiresAt then return 'canceled' end
  if at >= j.expiresAt then return 'expired' end
  return 'pending'
end
local function phaseOf(r)
  if r.resultStatus then return 'ended' end
  if r.startedAt then return 'in_progress' end
  return 'delivered'
end
local function deadlineEntry(r)
  if r.resultStatus or not r.deadlineAt then return nil end
  if r.deadlineAt < r.expiresAt then return r.deadlineAt end
  return nil
end
-- retally (rules), written: the job's counters after one change of the agent's execution at \`at\`
-- (\`before\` nil: made now), and its deadline entry moved to the set of its phase (kept until \`keepUntil\`).
local function retally(jk, j, agentId, before, after, at, keepUntil)
  local from, to = nil, phaseOf(after)
  if before then from = phaseOf(before) end
  if from ~= to then
    if from == 'delivered' then redis.call('HINCRBY', jk.job, 'delivered', -1) end
    if from == 'in_progress' then redis.call('HINCRBY', jk.job, 'inProgress', -1) end
    if to == 'delivered' then redis.call('HINCRBY', jk.job, 'delivered', 1) end
    if to == 'in_progress' then redis.call('HINCRBY', jk.job, 'inProgress', 1) end
    if to == 'ended' then
      redis.call('HINCRBY', jk.job, after.resultStatus, 1)
      if not j.lastEndAt or at > j.lastEndAt then redis.call('HSET', jk.job, 'lastEndAt', ms(at)) end
    end
  end
  if not before then redis.call('HINCRBY', jk.job, 'materialized', 1) end
  if at > j.updatedAt then redis.call('HSET', jk.job, 'updatedAt', ms(at)) end
  redis.call('ZREM', jk.delivered, agentId)
  redis.call('ZREM', jk.inProgress, agentId)
  local entry = deadlineEntry(after)
  if entry then
    local key = jk.inProgress
    if to == 'delivered' then key = jk.delivered end
    redis.call('ZADD', key, ms(entry), agentId)
    redis.call('PEXPIREAT', key, keepUntil)
  end
end
-- The end fields alone, for settledExecution.
local function jobEndOf(jobKey)
  local f = redis.call('HMGET', jobKey, 'endStatus', 'endAt', 'endReason', 'endForce')
  if not f[1] then return nil end
  return { status = f[1], at = tonumber(f[2]), reason = f[3] or nil, force = f[4] == '1' }
end
-- settledExecution (rules), written: after a forced cancel, an execution not terminal at its instant is
-- canceled then, with the job's reason (not retallied: the job's counts were frozen then). True when written.
local function settledExecution(commandKey, r, e, retention)
  if not e or not e.force or isTerminal(statusAt(r, e.at)) or goneOf(r, retention) <= e.at then return false end
  local endAt = ms(e.at)
  redis.call('HSET', commandKey, 'resultStatus', 'canceled', 'completedAt', endAt, 'updatedAt', endAt, 'cancelReason', e.reason or '${JOB_CANCEL_REASON}')
  r.resultStatus, r.completedAt = 'canceled', e.at
  redis.call('PEXPIREAT', commandKey, ms(e.at + retention))
  return true
end
`;

/**
 * Enqueue: with an idempotency key (`useKey` '1'), first the key: a live entry whose command is
 * not gone answers `replayed` with that command's hash when the fingerprint is the same, else
 * `mismatch`, and nothing changes; otherwise the key is (re)written. Then the hash, its place at
 * the end of the queue and of the log (the same sequence, from the agent's counter), both kept
 * until `goneAt`.
 */
export const ENQUEUE = script({
  mirrors: 'created, idempotency and idempotentUntil; expiry at goneAt (lib/commands/lifecycle.ts)',
  keys: ['commandKey', 'queueKey', 'logKey', 'seqKey', 'idemKey'],
  args: [
    'commandPrefix',
    'commandId',
    'agentId',
    'command',
    'args',
    'createdAt',
    'expiresAt',
    'timeoutMs',
    'keepUntil',
    'useKey',
    'fingerprint',
    'idemUntil',
    'retentionMs',
  ],
  // With an idempotency key, reads `commandPrefix .. <the key's command>`: a key it cannot declare.
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
${APPEND_LUA}
local now, retention = tonumber(createdAt), tonumber(retentionMs)
if useKey == '1' then
  local stored = redis.call('HMGET', idemKey, 'fingerprint', 'commandId', 'until')
  if stored[1] and tonumber(stored[3]) > now then
    local existing = commandPrefix .. stored[2]
    local r = ruleFields(existing)
    if r.expiresAt and goneOf(r, retention) > now then
      if stored[1] == fingerprint then return { 'replayed', redis.call('HGETALL', existing) } end
      return { 'mismatch' }
    end
  end
  redis.call('DEL', idemKey)
  redis.call('HSET', idemKey, 'fingerprint', fingerprint, 'commandId', commandId, 'until', idemUntil)
  redis.call('PEXPIREAT', idemKey, idemUntil)
end
redis.call('DEL', commandKey)
redis.call('HSET', commandKey, 'commandId', commandId, 'agentId', agentId, 'command', command, 'args', args,
  'createdAt', createdAt, 'expiresAt', expiresAt)
if timeoutMs ~= '' then redis.call('HSET', commandKey, 'timeoutMs', timeoutMs) end
redis.call('PEXPIREAT', commandKey, keepUntil)
appendCommand(queueKey, logKey, seqKey, commandId, keepUntil)
return { 'created' }
`,
});

/**
 * Fetch: walks the queue oldest first; drops what is in a terminal state at `now` (a hash gone,
 * finished, timed out or expired; such a hash stays for get and the log until it is gone), and an
 * execution its job's forced cancel ended (settledExecution, written, not handed out); counts a
 * delivery on each one handed out, and the first stamps deliveredAt and starts its deadline.
 * Then, while the page has room, the agent's candidate jobs (agent-jobs and the group-jobs of its
 * groups) oldest first: a gone job leaves the index it was found in; each is met at `now`
 * (abortAt written first); one no longer in progress leaves agent-jobs and its groups'
 * group-jobs; one the agent has its execution of leaves agent-jobs; a target the brakes allow
 * (mayDeliver: rollout counted in job-rollout) gets its execution made (executionRecord),
 * appended to its queue and log, counted (retally) and handed out at once. Returns up to
 * `limit` flat HGETALL arrays.
 */
export const FETCH = script({
  mirrors:
    'isDeliverable, delivered and isGone (lib/commands/lifecycle.ts); settledExecution, abortAt, mayDeliver, executionRecord and retally (lib/jobs/rules.ts)',
  keys: ['queueKey', 'logKey', 'seqKey', 'agentGroupsKey', 'agentJobsKey'],
  args: ['keyPrefix', 'commandPrefix', 'agentId', 'limit', 'now', 'retentionMs'],
  // Reads `commandPrefix .. id` for each id in the queue, and the keys of the jobs of the agent's
  // groups: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
${APPEND_LUA}
${KEYS_LUA}
${JOB_LUA}
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
local out = {}
local start = 0
while #out < max do
  local ids = redis.call('ZRANGE', queueKey, start, start + 99)
  if #ids == 0 then break end
  local dropped = 0
  for _, id in ipairs(ids) do
    local key = commandPrefix .. id
    local r = ruleFields(key)
    if r.expiresAt and r.jobId then settledExecution(key, r, jobEndOf(jobKeysOf(keyPrefix, r.jobId).job), retention) end
    if not r.expiresAt or isTerminal(statusAt(r, at)) then
      redis.call('ZREM', queueKey, id)
      dropped = dropped + 1
      if r.expiresAt and goneOf(r, retention) <= at then redis.call('DEL', key) end
    else
      redis.call('HINCRBY', key, 'deliveryCount', 1)
      if not r.deliveredAt then
        redis.call('HSET', key, 'deliveredAt', now, 'updatedAt', now)
        if r.timeoutMs and not r.deadlineAt then
          r.deadlineAt = at + r.timeoutMs
          redis.call('HSET', key, 'deadlineAt', ms(r.deadlineAt))
          redis.call('PEXPIREAT', key, ms(goneOf(r, retention)))
        end
      end
      out[#out + 1] = redis.call('HGETALL', key)
      if #out >= max then break end
    end
  end
  start = start + #ids - dropped
end
if #out >= max then return out end
local candidates, seen = {}, {}
local function consider(jobId, indexKey)
  if seen[jobId] then return end
  local jk = jobKeysOf(keyPrefix, jobId)
  local seq = redis.call('HGET', jk.job, 'seq')
  if not seq then
    redis.call('SREM', indexKey, jobId)
    return
  end
  seen[jobId] = true
  candidates[#candidates + 1] = { jobId = jobId, seq = tonumber(seq), keys = jk }
end
for _, jobId in ipairs(redis.call('SMEMBERS', agentJobsKey)) do consider(jobId, agentJobsKey) end
for _, group in ipairs(redis.call('SMEMBERS', agentGroupsKey)) do
  local indexKey = groupJobsKeyOf(keyPrefix, group)
  for _, jobId in ipairs(redis.call('SMEMBERS', indexKey)) do consider(jobId, indexKey) end
end
table.sort(candidates, function(a, b) return a.seq < b.seq end)
for _, candidate in ipairs(candidates) do
  if #out >= max then break end
  local jk, jobId = candidate.keys, candidate.jobId
  local j, _, c = jobAt(jk, at)
  if jobStatusAt(j, c, at) ~= 'in_progress' then
    redis.call('SREM', agentJobsKey, jobId)
    for _, group in ipairs(cjson.decode(redis.call('HGET', jk.job, 'targetsJson')).groups) do
      redis.call('SREM', groupJobsKeyOf(keyPrefix, group), jobId)
    end
  elseif redis.call('SISMEMBER', jk.execs, agentId) == 1 then
    redis.call('SREM', agentJobsKey, jobId)
  elseif at < j.expiresAt and redis.call('ZSCORE', jk.targets, agentId) then
    local recent = 0
    if j.rolloutMax then
      redis.call('ZREMRANGEBYSCORE', jk.rollout, '-inf', '(' .. ms(at - 2 * ${ROLLOUT_WINDOW_MS}))
      recent = redis.call('ZCOUNT', jk.rollout, '(' .. ms(at - ${ROLLOUT_WINDOW_MS}), '+inf')
    end
    if not j.rolloutMax or recent < j.rolloutMax then
      local spec = redis.call('HMGET', jk.job, 'command', 'args', 'createdAt', 'timeoutMs')
      local key = commandPrefix .. jobId
      local made = { expiresAt = j.expiresAt }
      redis.call('DEL', key)
      redis.call('HSET', key, 'commandId', jobId, 'agentId', agentId, 'command', spec[1], 'args', spec[2], 'createdAt', spec[3],
        'expiresAt', ms(j.expiresAt), 'jobId', jobId, 'deliveredAt', now, 'deliveryCount', '1', 'updatedAt', now)
      if spec[4] then
        made.deadlineAt = at + tonumber(spec[4])
        redis.call('HSET', key, 'timeoutMs', spec[4], 'deadlineAt', ms(made.deadlineAt))
      end
      local keepUntil, jobKeep = ms(goneOf(made, retention)), ms(j.expiresAt + retention)
      redis.call('PEXPIREAT', key, keepUntil)
      appendCommand(queueKey, logKey, seqKey, jobId, keepUntil)
      redis.call('SADD', jk.execs, agentId)
      redis.call('PEXPIREAT', jk.execs, jobKeep)
      if j.rolloutMax then
        redis.call('ZADD', jk.rollout, now, agentId)
        redis.call('PEXPIREAT', jk.rollout, jobKeep)
      end
      retally(jk, j, agentId, nil, made, at, jobKeep)
      out[#out + 1] = redis.call('HGETALL', key)
    end
  end
end
return out
`,
});

/** The declared keys of the job whose execution a command may be (commandId = jobId; none for a plain command). */
const EXECUTION_JOB = `
local function executionJob(r)
  if r.jobId ~= commandId then return nil end
  return { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey }
end
local function copyOf(r)
  return { expiresAt = r.expiresAt, deadlineAt = r.deadlineAt, startedAt = r.startedAt, resultStatus = r.resultStatus }
end
-- The agent's command at now (liveCommand; nil: not_found) and, for a job's execution, its job met
-- first (jobAt: abortAt written) and the execution settled by a forced cancel (settledExecution);
-- then the record as it was before this script's change.
local function metExecution(now, retention)
  local r = liveCommand(commandKey, queueKey, commandId, agentId, now, retention)
  if not r then return nil end
  local jk = executionJob(r)
  local j = nil
  if jk then
    j = jobAt(jk, now)
    if j and settledExecution(commandKey, r, j.jobEnd, retention) then redis.call('ZREM', queueKey, commandId) end
  end
  return r, jk, j, copyOf(r)
end
-- An accepted change of a job's execution at now, counted on the job (retally), which may abort it (jobAt).
local function counted(jk, j, before, r, now, retention)
  if not j then return end
  retally(jk, j, agentId, before, r, now, ms(j.expiresAt + retention))
  jobAt(jk, now)
end
`;

/**
 * Complete: a progress update (`status` in_progress) or a final result, as applyReport decides.
 * For a job's execution, the job is met at `at` first (abortAt written), a forced cancel settles
 * the execution (so the report is refused with `canceled`), and an accepted report is counted
 * (retally) and may abort the job at `at` (abortAt: the execution that crosses the threshold).
 * Inputs: `hasResult`/`hasDetails` are '1' or '0' (a result without a body is its own value);
 * `stepTimeoutMs` is '' when none. Returns { outcome, status }.
 */
export const COMPLETE = script({
  mirrors:
    'applyReport (lib/commands/lifecycle.ts): isGone, then progress or finish (isSameResult, statusOf); abortAt, settledExecution and retally (lib/jobs/rules.ts)',
  keys: ['commandKey', 'queueKey', 'jobKey', 'jobDeliveredKey', 'jobInProgressKey'],
  args: [
    'commandId',
    'agentId',
    'status',
    'hasResult',
    'resultJson',
    'hasDetails',
    'statusDetailsJson',
    'stepTimeoutMs',
    'at',
    'retentionMs',
  ],
  lockKeys: true,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
${JOB_LUA}
${EXECUTION_JOB}
local now, retention = tonumber(at), tonumber(retentionMs)
local r, jk, j, before = metExecution(now, retention)
if not r then return { 'not_found' } end
local current = statusAt(r, now)
if status == 'in_progress' then
  if isTerminal(current) then return { 'refused', current } end
  local deadline = r.deadlineAt
  if stepTimeoutMs ~= '' then deadline = now + tonumber(stepTimeoutMs)
  elseif not deadline and r.timeoutMs then deadline = now + r.timeoutMs end
  redis.call('HSET', commandKey, 'updatedAt', at)
  if not r.startedAt then
    r.startedAt = now
    redis.call('HSET', commandKey, 'startedAt', at)
  end
  if hasDetails == '1' then redis.call('HSET', commandKey, 'statusDetailsJson', statusDetailsJson) end
  if deadline ~= r.deadlineAt then
    r.deadlineAt = deadline
    redis.call('HSET', commandKey, 'deadlineAt', ms(deadline))
    redis.call('PEXPIREAT', commandKey, ms(goneOf(r, retention)))
  end
  counted(jk, j, before, r, now, retention)
  return { 'accepted', 'in_progress' }
end
if r.resultStatus then
  local storedResult = redis.call('HGET', commandKey, 'resultJson')
  local sameBody = (hasResult == '1' and storedResult == resultJson) or (hasResult == '0' and not storedResult)
  if r.resultStatus == status and sameBody then return { 'duplicate', status } end
  return { 'refused', r.resultStatus }
end
if isTerminal(current) then return { 'refused', current } end
redis.call('HSET', commandKey, 'resultStatus', status, 'completedAt', at, 'updatedAt', at)
if hasResult == '1' then redis.call('HSET', commandKey, 'resultJson', resultJson) end
redis.call('PEXPIREAT', commandKey, ms(now + retention))
redis.call('ZREM', queueKey, commandId)
r.resultStatus = status
counted(jk, j, before, r, now, retention)
return { 'accepted', status }
`,
});

/**
 * Cancel: from any state not terminal. For a job's execution, as COMPLETE: the job met first,
 * a forced cancel settled, an accepted cancel counted and the abort threshold checked at `at`.
 * Returns { outcome, status, the hash after } (not_found: { outcome }).
 */
export const CANCEL = script({
  mirrors:
    'cancel (lib/commands/lifecycle.ts): isGone, then statusOf and isTerminal; abortAt, settledExecution and retally (lib/jobs/rules.ts)',
  keys: ['commandKey', 'queueKey', 'jobKey', 'jobDeliveredKey', 'jobInProgressKey'],
  args: ['commandId', 'agentId', 'hasReason', 'reason', 'at', 'retentionMs'],
  lockKeys: true,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
${JOB_LUA}
${EXECUTION_JOB}
local now, retention = tonumber(at), tonumber(retentionMs)
local r, jk, j, before = metExecution(now, retention)
if not r then return { 'not_found' } end
local current = statusAt(r, now)
if isTerminal(current) then return { 'refused', current, redis.call('HGETALL', commandKey) } end
redis.call('HSET', commandKey, 'resultStatus', 'canceled', 'completedAt', at, 'updatedAt', at)
if hasReason == '1' then redis.call('HSET', commandKey, 'cancelReason', reason) end
redis.call('PEXPIREAT', commandKey, ms(now + retention))
redis.call('ZREM', queueKey, commandId)
r.resultStatus = 'canceled'
counted(jk, j, before, r, now, retention)
return { 'accepted', 'canceled', redis.call('HGETALL', commandKey) }
`,
});

/**
 * List: walks the log after the sequence `after`, in batches; settles an execution its job's
 * forced cancel ended (settledExecution); drops what is gone (the hash, its log entry, its queue
 * entry); keeps those of the `statuses` asked for (comma-separated, '' for all); returns { flat
 * HGETALL arrays, the last one's sequence when another matching command follows, else '' }.
 */
export const LIST = script({
  mirrors: 'listPage, statusOf and isGone (lib/commands/lifecycle.ts); settledExecution (lib/jobs/rules.ts)',
  keys: ['logKey', 'queueKey'],
  args: ['keyPrefix', 'commandPrefix', 'after', 'limit', 'statuses', 'now', 'retentionMs'],
  // Reads `commandPrefix .. id` for each id in the log (and the job of each execution): keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
${KEYS_LUA}
${JOB_LUA}
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
local wanted = nil
if statuses ~= '' then
  wanted = {}
  for name in string.gmatch(statuses, '[^,]+') do wanted[name] = true end
end
local out = {}
local last = ''
local from = '(' .. after
while true do
  local batch = redis.call('ZRANGEBYSCORE', logKey, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local id, seq = batch[i], batch[i + 1]
    local key = commandPrefix .. id
    local r = ruleFields(key)
    if r.expiresAt and r.jobId and settledExecution(key, r, jobEndOf(jobKeysOf(keyPrefix, r.jobId).job), retention) then
      redis.call('ZREM', queueKey, id)
    end
    if not r.expiresAt then
      redis.call('ZREM', logKey, id)
    elseif goneOf(r, retention) <= at then
      redis.call('DEL', key)
      redis.call('ZREM', logKey, id)
      redis.call('ZREM', queueKey, id)
    elseif not wanted or wanted[statusAt(r, at)] then
      if #out == max then return { out, last } end
      out[#out + 1] = redis.call('HGETALL', key)
      last = seq
    end
    from = '(' .. seq
  end
end
return { out, '' }
`,
});

/** Revoke a subject: keeps the later of the stored cut-off and the new one (already whole seconds). */
export const RAISE_CUTOFF = script({
  mirrors: 'raisedCutoff (lib/auth/revocation.ts)',
  keys: ['cutoffKey'],
  args: ['cutoff'],
  lockKeys: true,
  body: `
local current = tonumber(redis.call('GET', cutoffKey))
if not current or current < tonumber(cutoff) then redis.call('SET', cutoffKey, cutoff) end
return 1
`,
});

/**
 * Join a group: the agent takes the group's next position (from the counter at `seqKey`, never
 * reused) in the members' sorted set, and the group goes into the agent's set; both or neither.
 * `maxGroups` is MAX_GROUPS_PER_AGENT. Then, for each job of the group (group-jobs), met at
 * `now` (abortAt written first): a gone or ended one leaves group-jobs; a continuous one in
 * progress takes the agent as a target after the others (score from its targetSeq), once.
 * Answers the JoinOutcome.
 */
export const GROUP_JOIN = script({
  mirrors: 'joinOutcome and nextPosition (lib/groups/membership.ts); abortAt and jobStatusAt (lib/jobs/rules.ts)',
  keys: ['groupKey', 'seqKey', 'agentGroupsKey', 'groupJobsKey'],
  args: ['keyPrefix', 'group', 'agentId', 'maxGroups', 'now'],
  // Reads the keys of each job group-jobs names: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${KEYS_LUA}
${JOB_LUA}
if redis.call('ZSCORE', groupKey, agentId) then return 'unchanged' end
if redis.call('SCARD', agentGroupsKey) >= tonumber(maxGroups) then return 'too_many_groups' end
local position = redis.call('INCR', seqKey)
redis.call('ZADD', groupKey, ms(position), agentId)
redis.call('SADD', agentGroupsKey, group)
local at = tonumber(now)
for _, jobId in ipairs(redis.call('SMEMBERS', groupJobsKey)) do
  local jk = jobKeysOf(keyPrefix, jobId)
  local j, _, c = jobAt(jk, at)
  if not j or jobStatusAt(j, c, at) ~= 'in_progress' then
    redis.call('SREM', groupJobsKey, jobId)
  elseif j.continuous and not redis.call('ZSCORE', jk.targets, agentId) then
    redis.call('ZADD', jk.targets, redis.call('HINCRBY', jk.job, 'targetSeq', 1), agentId)
    redis.call('HINCRBY', jk.job, 'targets', 1)
  end
end
return 'added'
`,
});

/**
 * Leave a group: out of the members' sorted set and the agent's set, both at once. Nothing of a
 * job is canceled: for each job of the group (group-jobs) that has the agent as a target without
 * its execution, the job goes into agent-jobs, so the agent still finds it; a gone job leaves
 * group-jobs. Answers the LeaveOutcome.
 */
export const GROUP_LEAVE = script({
  mirrors: 'leaveOutcome (lib/groups/membership.ts)',
  keys: ['groupKey', 'agentGroupsKey', 'groupJobsKey', 'agentJobsKey'],
  args: ['keyPrefix', 'group', 'agentId'],
  // Reads the keys of each job group-jobs names: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${KEYS_LUA}
local removed = redis.call('ZREM', groupKey, agentId)
redis.call('SREM', agentGroupsKey, group)
if removed == 0 then return 'unchanged' end
for _, jobId in ipairs(redis.call('SMEMBERS', groupJobsKey)) do
  local jk = jobKeysOf(keyPrefix, jobId)
  if redis.call('EXISTS', jk.job) == 0 then
    redis.call('SREM', groupJobsKey, jobId)
  elseif redis.call('ZSCORE', jk.targets, agentId) and redis.call('SISMEMBER', jk.execs, agentId) == 0 then
    redis.call('SADD', agentJobsKey, jobId)
  end
end
return 'removed'
`,
});

/** A page of a group's members: up to `count` (a page and one more) after join position `after`, flat with their positions. */
export const GROUP_MEMBERS = script({
  mirrors: 'storage only: members of the in-memory store; the page is cut by memberPage (lib/groups/membership.ts)',
  keys: ['groupKey'],
  args: ['after', 'count'],
  lockKeys: true,
  body: `return redis.call('ZRANGE', groupKey, '(' .. after, '+inf', 'BYSCORE', 'LIMIT', 0, count, 'WITHSCORES')`,
});

/** The groups an agent is in, in the set's order (sorted by sortedGroups after). */
export const AGENT_GROUPS = script({
  mirrors: 'storage only: groupsOf of the in-memory store; sorted by sortedGroups (lib/groups/membership.ts)',
  keys: ['agentGroupsKey'],
  args: [],
  lockKeys: true,
  body: `return redis.call('SMEMBERS', agentGroupsKey)`,
});

/** Revoke one token: the denylist entry, gone at `exat` (epoch s), or kept for good when `exat` is ''. */
export const REVOKE_TOKEN = script({
  mirrors: 'storage only: revokeToken of the in-memory store; the entry is live until its EXAT (isLive)',
  keys: ['revokedKey'],
  args: ['exat'],
  lockKeys: true,
  body: `
if exat == '' then redis.call('SET', revokedKey, '1') else redis.call('SET', revokedKey, '1', 'EXAT', exat) end
return 1
`,
});

/**
 * One command's hash, flat (HGETALL), for the operator's read; an execution its job's forced
 * cancel ended is settled first (settledExecution, written; the queue entry goes when a fetch
 * meets it).
 */
export const GET_COMMAND = script({
  mirrors: 'settledExecution (lib/jobs/rules.ts); otherwise storage only: get of the in-memory store',
  keys: ['commandKey', 'jobKey'],
  args: ['commandId', 'retentionMs'],
  lockKeys: true,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
${JOB_LUA}
local r = ruleFields(commandKey)
if r.expiresAt and r.jobId == commandId then settledExecution(commandKey, r, jobEndOf(jobKey), tonumber(retentionMs)) end
return redis.call('HGETALL', commandKey)
`,
});

/** The agent's config overrides (JSON text), or nil. */
export const GET_CONFIG = script({
  mirrors: 'storage only: getConfig of the in-memory store',
  keys: ['configKey'],
  args: [],
  lockKeys: true,
  body: `return redis.call('GET', configKey)`,
});

/** Replaces the agent's config overrides. */
export const PUT_CONFIG = script({
  mirrors: 'storage only: putConfig of the in-memory store',
  keys: ['configKey'],
  args: ['overrides'],
  lockKeys: true,
  body: `
redis.call('SET', configKey, overrides)
return 1
`,
});

/**
 * Create a job at `createdAt`. With an idempotency key (`useKey` '1'), first the key, as ENQUEUE:
 * a live entry whose job is not gone answers `replayed` with that job's hash (same fingerprint) or
 * `mismatch`, and nothing changes; otherwise the key is (re)written. Then the target set: the
 * union of the groups' members with every score 0 (ZUNIONSTORE ... WEIGHTS 0 ... AGGREGATE MIN),
 * the named agents added at 0 (ZADD NX), so the creation targets are in byte order; their count
 * is the job's `targets` and `initialTargets`. The job's hash (spec, seq from job-seq, tally),
 * its place in the listing, group-jobs of each group and agent-jobs of each named agent; every
 * job key kept until `keepUntil` (expiresAt + retention). `targets` is the JSON of the job's
 * targets ({agents, groups}). Returns { 'created', seq, targets } or { 'replayed', hash } or { 'mismatch' }.
 */
export const JOB_CREATE = script({
  mirrors: 'createdJob (lib/jobs/rules.ts); idempotency and idempotentUntil (lib/commands/lifecycle.ts)',
  keys: ['jobKey', 'targetsKey', 'jobsKey', 'jobSeqKey', 'idemKey'],
  args: [
    'keyPrefix',
    'jobId',
    'command',
    'args',
    'targets',
    'createdAt',
    'expiresAt',
    'timeoutMs',
    'continuous',
    'rolloutMax',
    'abortPercent',
    'abortMin',
    'hasDescription',
    'description',
    'keepUntil',
    'useKey',
    'fingerprint',
    'idemUntil',
    'retentionMs',
  ],
  // Reads the groups named in `targets` and writes their group-jobs, and with an idempotency key
  // reads the job that key made: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${KEYS_LUA}
local now, retention = tonumber(createdAt), tonumber(retentionMs)
if useKey == '1' then
  local stored = redis.call('HMGET', idemKey, 'fingerprint', 'jobId', 'until')
  if stored[1] and tonumber(stored[3]) > now then
    local existing = jobKeysOf(keyPrefix, stored[2]).job
    local expiry = redis.call('HGET', existing, 'expiresAt')
    if expiry and tonumber(expiry) + retention > now then
      if stored[1] == fingerprint then return { 'replayed', redis.call('HGETALL', existing) } end
      return { 'mismatch' }
    end
  end
  redis.call('DEL', idemKey)
  redis.call('HSET', idemKey, 'fingerprint', fingerprint, 'jobId', jobId, 'until', idemUntil)
  redis.call('PEXPIREAT', idemKey, idemUntil)
end
local named = cjson.decode(targets)
redis.call('DEL', jobKey, targetsKey)
if #named.groups > 0 then
  local union = { 'ZUNIONSTORE', targetsKey, #named.groups }
  for _, group in ipairs(named.groups) do union[#union + 1] = groupKeyOf(keyPrefix, group) end
  union[#union + 1] = 'WEIGHTS'
  for _ = 1, #named.groups do union[#union + 1] = '0' end
  union[#union + 1] = 'AGGREGATE'
  union[#union + 1] = 'MIN'
  redis.call(unpack(union))
end
for first = 1, #named.agents, 500 do
  local add = { 'ZADD', targetsKey, 'NX' }
  for i = first, math.min(first + 499, #named.agents) do
    add[#add + 1] = '0'
    add[#add + 1] = named.agents[i]
  end
  redis.call(unpack(add))
end
local count = string.format('%d', redis.call('ZCARD', targetsKey))
local seq = string.format('%d', redis.call('INCR', jobSeqKey))
redis.call('HSET', jobKey, 'jobId', jobId, 'command', command, 'args', args, 'targetsJson', targets, 'createdAt', createdAt,
  'expiresAt', expiresAt, 'continuous', continuous, 'seq', seq, 'targetSeq', '0', 'initialTargets', count, 'targets', count,
  'materialized', '0', 'delivered', '0', 'inProgress', '0', 'completed', '0', 'failed', '0', 'rejected', '0', 'canceled', '0',
  'updatedAt', createdAt)
if timeoutMs ~= '' then redis.call('HSET', jobKey, 'timeoutMs', timeoutMs) end
if rolloutMax ~= '' then redis.call('HSET', jobKey, 'rolloutMax', rolloutMax) end
if abortPercent ~= '' then redis.call('HSET', jobKey, 'abortPercent', abortPercent, 'abortMin', abortMin) end
if hasDescription == '1' then redis.call('HSET', jobKey, 'description', description) end
redis.call('PEXPIREAT', jobKey, keepUntil)
redis.call('PEXPIREAT', targetsKey, keepUntil)
redis.call('ZADD', jobsKey, seq, jobId)
for _, group in ipairs(named.groups) do redis.call('SADD', groupJobsKeyOf(keyPrefix, group), jobId) end
for _, agent in ipairs(named.agents) do redis.call('SADD', agentJobsKeyOf(keyPrefix, agent), jobId) end
return { 'created', seq, count }
`,
});

/** The job at `now` (abortAt written first): { 'ok', hash, timed-out tally } or { 'not_found' } (none, or past retention). */
export const JOB_GET = script({
  mirrors: 'abortAt and countsAt (lib/jobs/rules.ts): the read of jobSnapshot',
  keys: ['jobKey', 'jobDeliveredKey', 'jobInProgressKey'],
  args: ['now', 'retentionMs'],
  lockKeys: true,
  body: `
${LIFECYCLE_LUA}
${JOB_LUA}
local at = tonumber(now)
local expiry = redis.call('HGET', jobKey, 'expiresAt')
if not expiry or tonumber(expiry) + tonumber(retentionMs) <= at then return { 'not_found' } end
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey }
local _, t = jobAt(jk, at)
return { 'ok', jobAnswer(jk, t) }
`,
});

/**
 * A page of jobs newest first, created before seq `before` ('0': from the newest), of the
 * `statuses` asked for at `now` (comma-separated, '' for all), each met at `now` (abortAt written
 * first); an entry whose job is gone leaves the listing. Returns { answers, the last one's seq
 * when another matching job follows, else '' }.
 */
export const JOB_LIST = script({
  mirrors: 'abortAt and jobStatusAt (lib/jobs/rules.ts)',
  keys: ['jobsKey'],
  args: ['keyPrefix', 'before', 'limit', 'statuses', 'now', 'retentionMs'],
  // Reads the keys of each job the listing names: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${KEYS_LUA}
${JOB_LUA}
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
local wanted = nil
if statuses ~= '' then
  wanted = {}
  for name in string.gmatch(statuses, '[^,]+') do wanted[name] = true end
end
local out, last = {}, ''
local top = '+inf'
if tonumber(before) > 0 then top = '(' .. before end
while true do
  local batch = redis.call('ZREVRANGEBYSCORE', jobsKey, top, '-inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local jobId, seq = batch[i], batch[i + 1]
    local jk = jobKeysOf(keyPrefix, jobId)
    local expiry = redis.call('HGET', jk.job, 'expiresAt')
    if not expiry then
      redis.call('ZREM', jobsKey, jobId)
    elseif tonumber(expiry) + retention > at then
      local j, t, c = jobAt(jk, at)
      if not wanted or wanted[jobStatusAt(j, c, at)] then
        if #out == max then return { out, last } end
        out[#out + 1] = jobAnswer(jk, t)
        last = seq
      end
    end
    top = '(' .. seq
  end
end
return { out, '' }
`,
});

/**
 * A page of a job's targets in target order (rank in job-targets) after `after` targets, each
 * with its status at `now`: its execution's (cmd:<agent>:<job>, settled: settledExecution), an
 * execution past retention left out, a target without one by undeliveredStatus; of the
 * `statuses` asked for. The job met at `now` first (abortAt). Returns { 'ok', the job's answer,
 * { agent, status, flat hash or {} } each, the offset after the last one when another matching
 * target follows, else '' } or { 'not_found' }.
 */
export const JOB_EXECUTIONS = script({
  mirrors: 'abortAt, settledExecution and undeliveredStatus (lib/jobs/rules.ts); statusOf and isGone (lib/commands/lifecycle.ts)',
  keys: ['jobKey', 'targetsKey', 'execsKey', 'jobDeliveredKey', 'jobInProgressKey'],
  args: ['keyPrefix', 'jobId', 'after', 'limit', 'statuses', 'now', 'retentionMs'],
  // Reads cmd:<agent>:<job> for each target with an execution: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
${KEYS_LUA}
${JOB_LUA}
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
local expiry = redis.call('HGET', jobKey, 'expiresAt')
if not expiry or tonumber(expiry) + retention <= at then return { 'not_found' } end
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey }
local j, t = jobAt(jk, at)
local wanted = nil
if statuses ~= '' then
  wanted = {}
  for name in string.gmatch(statuses, '[^,]+') do wanted[name] = true end
end
local undelivered = undeliveredStatus(j, at)
local out, last = {}, ''
local rank = tonumber(after)
while true do
  local agents = redis.call('ZRANGE', targetsKey, rank, rank + 99)
  if #agents == 0 then break end
  for i, agent in ipairs(agents) do
    local status, flat = undelivered, {}
    if redis.call('SISMEMBER', execsKey, agent) == 1 then
      local key = keyPrefix .. 'cmd:' .. keyPart(agent) .. ':' .. jobId
      local r = ruleFields(key)
      status = nil
      if r.expiresAt then
        if settledExecution(key, r, j.jobEnd, retention) then redis.call('ZREM', keyPrefix .. 'queue:' .. keyPart(agent), jobId) end
        if goneOf(r, retention) > at then
          status = statusAt(r, at)
          flat = redis.call('HGETALL', key)
        end
      end
    end
    if status and (not wanted or wanted[status]) then
      if #out == max then return { 'ok', jobAnswer(jk, t), out, last } end
      out[#out + 1] = { agent, status, flat }
      last = ms(rank + i)
    end
  end
  rank = rank + #agents
end
return { 'ok', jobAnswer(jk, t), out, '' }
`,
});

/**
 * An operator's cancel of a job at `at` (after abortAt): refused once the job has ended;
 * otherwise every undelivered target is canceled (the end's `undelivered`), and with `force`
 * ('1') the counts are frozen as cancelJob says (executions settle when met). Returns
 * { 'accepted' | 'refused', the job's answer } or { 'not_found' }.
 */
export const JOB_CANCEL = script({
  mirrors: 'cancelJob, abortAt and jobStatusAt (lib/jobs/rules.ts)',
  keys: ['jobKey', 'jobDeliveredKey', 'jobInProgressKey'],
  args: ['hasReason', 'reason', 'force', 'at', 'retentionMs'],
  lockKeys: true,
  body: `
${LIFECYCLE_LUA}
${JOB_LUA}
local now = tonumber(at)
local expiry = redis.call('HGET', jobKey, 'expiresAt')
if not expiry or tonumber(expiry) + tonumber(retentionMs) <= now then return { 'not_found' } end
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey }
local j, t, c = jobAt(jk, now)
if jobStatusAt(j, c, now) ~= 'in_progress' then return { 'refused', jobAnswer(jk, t) } end
local e = { status = 'canceled', at = now, force = force == '1', undelivered = c.pending }
if hasReason == '1' then e.reason = reason end
if e.force then
  e.final = {}
  for _, name in ipairs(COUNT_NAMES) do e.final[name] = c[name] end
  e.final.pending, e.final.delivered, e.final.in_progress = 0, 0, 0
  e.final.canceled = c.canceled + c.pending + c.delivered + c.in_progress
end
ended(jobKey, j, e)
return { 'accepted', jobAnswer(jk, t) }
`,
});
