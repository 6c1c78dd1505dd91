/**
 * The Lua scripts of the Upstash store, each a named constant that says which pure function it
 * mirrors (lib/commands/lifecycle.ts, lib/auth/revocation.ts, lib/store/ratelimit.ts,
 * lib/groups/membership.ts); test/parity.test.ts runs them against those functions on random
 * histories.
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
 * database while it runs (test/key-locking.test.ts checks every key such a script touches with
 * Redis MONITOR). Redis 7 does not know the flag: the local Upstash bridge strips it, as Upstash's
 * dialect meets Redis there (dev/). Three scripts cannot be marked and run under the global
 * lock: FETCH and LIST read the hash of every command the queue or the log names, and ENQUEUE
 * with an idempotency key reads the hash of the command that key made; those keys are known only
 * once the queue, the log or the key is read.
 *
 * The admission gate (`gated()`): every agent and operator request runs its action inside one
 * script whose preamble first takes the revocation decision and counts the rate limit, and only
 * then runs the action; a refusal returns before the action has read or written anything.
 */

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
const RULE_FIELDS = `'expiresAt', 'deadlineAt', 'completedAt', 'resultStatus', 'startedAt', 'deliveredAt', 'timeoutMs'`;
const READ_RULE_FIELDS = `
local function ruleFields(key)
  local f = redis.call('HMGET', key, ${RULE_FIELDS})
  return { expiresAt = tonumber(f[1]), deadlineAt = tonumber(f[2]), completedAt = tonumber(f[3]), resultStatus = f[4],
    startedAt = tonumber(f[5]), deliveredAt = tonumber(f[6]), timeoutMs = tonumber(f[7]) }
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
return { 'created' }
`,
});

/**
 * Fetch: walks the queue oldest first; drops what is in a terminal state at `now` (a hash gone,
 * finished, timed out or expired; such a hash stays for get and the log until it is gone);
 * counts a delivery on each one handed out, and the first stamps deliveredAt and starts its
 * deadline; returns up to `limit` flat HGETALL arrays.
 */
export const FETCH = script({
  mirrors: 'isDeliverable, delivered and isGone (lib/commands/lifecycle.ts)',
  keys: ['queueKey'],
  args: ['commandPrefix', 'limit', 'now', 'retentionMs'],
  // Reads `commandPrefix .. id` for each id in the queue: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
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
return out
`,
});

/**
 * Complete: a progress update (`status` in_progress) or a final result, as applyReport decides.
 * Inputs: `hasResult`/`hasDetails` are '1' or '0' (a result without a body is its own value);
 * `stepTimeoutMs` is '' when none. Returns { outcome, status }.
 */
export const COMPLETE = script({
  mirrors: 'applyReport (lib/commands/lifecycle.ts): isGone, then progress or finish (isSameResult, statusOf)',
  keys: ['commandKey', 'queueKey'],
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
local now, retention = tonumber(at), tonumber(retentionMs)
local r = liveCommand(commandKey, queueKey, commandId, agentId, now, retention)
if not r then return { 'not_found' } end
local current = statusAt(r, now)
if status == 'in_progress' then
  if isTerminal(current) then return { 'refused', current } end
  local deadline = r.deadlineAt
  if stepTimeoutMs ~= '' then deadline = now + tonumber(stepTimeoutMs)
  elseif not deadline and r.timeoutMs then deadline = now + r.timeoutMs end
  redis.call('HSET', commandKey, 'updatedAt', at)
  if not r.startedAt then redis.call('HSET', commandKey, 'startedAt', at) end
  if hasDetails == '1' then redis.call('HSET', commandKey, 'statusDetailsJson', statusDetailsJson) end
  if deadline ~= r.deadlineAt then
    r.deadlineAt = deadline
    redis.call('HSET', commandKey, 'deadlineAt', ms(deadline))
    redis.call('PEXPIREAT', commandKey, ms(goneOf(r, retention)))
  end
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
return { 'accepted', status }
`,
});

/** Cancel: from any state not terminal. Returns { outcome, status, the hash after } (not_found: { outcome }). */
export const CANCEL = script({
  mirrors: 'cancel (lib/commands/lifecycle.ts): isGone, then statusOf and isTerminal',
  keys: ['commandKey', 'queueKey'],
  args: ['commandId', 'agentId', 'hasReason', 'reason', 'at', 'retentionMs'],
  lockKeys: true,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
local now, retention = tonumber(at), tonumber(retentionMs)
local r = liveCommand(commandKey, queueKey, commandId, agentId, now, retention)
if not r then return { 'not_found' } end
local current = statusAt(r, now)
if isTerminal(current) then return { 'refused', current, redis.call('HGETALL', commandKey) } end
redis.call('HSET', commandKey, 'resultStatus', 'canceled', 'completedAt', at, 'updatedAt', at)
if hasReason == '1' then redis.call('HSET', commandKey, 'cancelReason', reason) end
redis.call('PEXPIREAT', commandKey, ms(now + retention))
redis.call('ZREM', queueKey, commandId)
return { 'accepted', 'canceled', redis.call('HGETALL', commandKey) }
`,
});

/**
 * List: walks the log after the sequence `after`, in batches; drops what is gone (the hash,
 * its log entry, its queue entry); keeps those of the `statuses` asked for (comma-separated,
 * '' for all); returns { flat HGETALL arrays, the last one's sequence when another matching
 * command follows, else '' }.
 */
export const LIST = script({
  mirrors: 'listPage, statusOf and isGone (lib/commands/lifecycle.ts)',
  keys: ['logKey', 'queueKey'],
  args: ['commandPrefix', 'after', 'limit', 'statuses', 'now', 'retentionMs'],
  // Reads `commandPrefix .. id` for each id in the log: keys it cannot declare (see the top).
  lockKeys: false,
  body: `
${LIFECYCLE_LUA}
${READ_RULE_FIELDS}
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
 * `maxGroups` is MAX_GROUPS_PER_AGENT. Answers the JoinOutcome.
 */
export const GROUP_JOIN = script({
  mirrors: 'joinOutcome and nextPosition (lib/groups/membership.ts)',
  keys: ['groupKey', 'seqKey', 'agentGroupsKey'],
  args: ['group', 'agentId', 'maxGroups'],
  lockKeys: true,
  body: `
if redis.call('ZSCORE', groupKey, agentId) then return 'unchanged' end
if redis.call('SCARD', agentGroupsKey) >= tonumber(maxGroups) then return 'too_many_groups' end
local position = redis.call('INCR', seqKey)
redis.call('ZADD', groupKey, string.format('%d', position), agentId)
redis.call('SADD', agentGroupsKey, group)
return 'added'
`,
});

/** Leave a group: out of the members' sorted set and the agent's set, both at once. Answers the LeaveOutcome. */
export const GROUP_LEAVE = script({
  mirrors: 'leaveOutcome (lib/groups/membership.ts)',
  keys: ['groupKey', 'agentGroupsKey'],
  args: ['group', 'agentId'],
  lockKeys: true,
  body: `
local removed = redis.call('ZREM', groupKey, agentId)
redis.call('SREM', agentGroupsKey, group)
if removed == 1 then return 'removed' end
return 'unchanged'
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

/** One command's hash, flat (HGETALL), for the operator's read. */
export const GET_COMMAND = script({
  mirrors: 'storage only: get of the in-memory store',
  keys: ['commandKey'],
  args: [],
  lockKeys: true,
  body: `return redis.call('HGETALL', commandKey)`,
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
