/**
 * The Lua scripts of the Upstash store, each a named constant that says which pure function it
 * mirrors (lib/commands/lifecycle.ts, lib/auth/revocation.ts, lib/groups/membership.ts);
 * test/parity.test.ts runs them against those functions on random histories.
 *
 * Inputs are named: `script()` binds every KEYS and ARGV entry to a local of that name at the top
 * of the script, in the order given, and refuses a body that reaches into KEYS or ARGV itself;
 * the caller passes its values by name through `inputsOf()`, so no position is written twice.
 * Every input arrives as a string. Numbers that go back into Redis are passed in as the decimal
 * strings TypeScript wrote (Lua's tostring would write large numbers in exponent form); the body
 * calls tonumber only where it compares.
 */

export interface LuaScript<K extends string = string, A extends string = string> {
  /** The pure function(s) the script mirrors. */
  readonly mirrors: string;
  readonly keys: readonly K[];
  readonly args: readonly A[];
  /** The whole script as sent to Redis: the bindings, then the body. */
  readonly lua: string;
}

const LUA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LUA_RESERVED = new Set(
  'and break do else elseif end false for function if in local nil not or repeat return then true until while'.split(' '),
);

function script<const K extends string, const A extends string>(definition: {
  mirrors: string;
  keys: readonly K[];
  args: readonly A[];
  body: string;
}): LuaScript<K, A> {
  const names = [...definition.keys, ...definition.args];
  for (const name of names) {
    if (!LUA_NAME.test(name) || LUA_RESERVED.has(name)) throw new Error(`not a Lua local name: ${name}`);
  }
  if (new Set(names).size !== names.length) throw new Error(`a script input is named twice: ${names.join(', ')}`);
  if (/\b(KEYS|ARGV)\s*\[/.test(definition.body)) throw new Error('a script body uses its inputs by name, never KEYS[i] or ARGV[i]');
  const bindings = [
    ...definition.keys.map((name, i) => `local ${name} = KEYS[${i + 1}]`),
    ...definition.args.map((name, i) => `local ${name} = ARGV[${i + 1}]`),
  ];
  const { body, ...rest } = definition;
  return { ...rest, lua: `${bindings.join('\n')}\n${body.trim()}\n` };
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

/** Enqueue: the hash and its place at the end of the queue; both kept until `goneAt` (lifecycle `goneAt`). */
export const ENQUEUE = script({
  mirrors: 'the enqueue order of the in-memory store; expiry at goneAt (lib/commands/lifecycle.ts)',
  keys: ['commandKey', 'queueKey'],
  args: ['commandId', 'agentId', 'command', 'args', 'createdAt', 'expiresAt', 'goneAt'],
  body: `
redis.call('DEL', commandKey)
redis.call('HSET', commandKey, 'commandId', commandId, 'agentId', agentId, 'command', command, 'args', args,
  'createdAt', createdAt, 'expiresAt', expiresAt)
redis.call('PEXPIREAT', commandKey, goneAt)
if not redis.call('ZSCORE', queueKey, commandId) then
  local last = redis.call('ZRANGE', queueKey, -1, -1, 'WITHSCORES')
  local seq = 1
  if last[2] then seq = tonumber(last[2]) + 1 end
  redis.call('ZADD', queueKey, string.format('%d', seq), commandId)
end
if redis.call('PEXPIREAT', queueKey, goneAt, 'NX') == 0 then redis.call('PEXPIREAT', queueKey, goneAt, 'GT') end
return 1
`,
});

/**
 * Fetch: walks the queue oldest first; drops what is not deliverable (hash gone, finished,
 * expired; an expired hash stays for get/complete until it is gone); stamps deliveredAt once;
 * returns up to `limit` flat HGETALL arrays.
 */
export const FETCH = script({
  mirrors: 'isDeliverable, delivered and isGone (lib/commands/lifecycle.ts)',
  keys: ['queueKey'],
  args: ['commandPrefix', 'limit', 'now', 'retentionMs'],
  body: `
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
local out = {}
local start = 0
while #out < max do
  local ids = redis.call('ZRANGE', queueKey, start, start + 99)
  if #ids == 0 then break end
  local dropped = 0
  for _, id in ipairs(ids) do
    local key = commandPrefix .. id
    local f = redis.call('HMGET', key, 'expiresAt', 'resultStatus', 'deliveredAt')
    local expiresAt, resultStatus, deliveredAt = tonumber(f[1]), f[2], f[3]
    if not expiresAt or resultStatus or expiresAt <= at then
      redis.call('ZREM', queueKey, id)
      dropped = dropped + 1
      if expiresAt and not resultStatus and expiresAt + retention <= at then redis.call('DEL', key) end
    else
      if not deliveredAt then redis.call('HSET', key, 'deliveredAt', now) end
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
 * Complete: first result wins. `hasResult` is '1' or '0' (a result without a body is its own
 * value); `goneAt` is completedAt + retention, the hash's new expiry once accepted.
 */
export const COMPLETE = script({
  mirrors: 'complete (lib/commands/lifecycle.ts): isGone, then isFinished/isSameResult, then isExpired',
  keys: ['commandKey', 'queueKey'],
  args: ['commandId', 'agentId', 'status', 'hasResult', 'resultJson', 'completedAt', 'retentionMs', 'goneAt'],
  body: `
local f = redis.call('HMGET', commandKey, 'agentId', 'expiresAt', 'completedAt', 'resultStatus', 'resultJson')
local storedAgent, expiresAt, storedCompletedAt, storedStatus, storedResult = f[1], tonumber(f[2]), tonumber(f[3]), f[4], f[5]
if not expiresAt or storedAgent ~= agentId then return 'not_found' end
local at = tonumber(completedAt)
if (storedCompletedAt or expiresAt) + tonumber(retentionMs) <= at then
  redis.call('DEL', commandKey)
  redis.call('ZREM', queueKey, commandId)
  return 'not_found'
end
if storedStatus then
  local sameBody = (hasResult == '1' and storedResult == resultJson) or (hasResult == '0' and not storedResult)
  if storedStatus == status and sameBody then return 'duplicate' end
  return 'conflict'
end
if expiresAt <= at then return 'expired' end
redis.call('HSET', commandKey, 'resultStatus', status, 'completedAt', completedAt)
if hasResult == '1' then redis.call('HSET', commandKey, 'resultJson', resultJson) end
redis.call('PEXPIREAT', commandKey, goneAt)
redis.call('ZREM', queueKey, commandId)
return 'accepted'
`,
});

/** Revoke a subject: keeps the later of the stored cut-off and the new one (already whole seconds). */
export const RAISE_CUTOFF = script({
  mirrors: 'raisedCutoff (lib/auth/revocation.ts)',
  keys: ['cutoffKey'],
  args: ['cutoff'],
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
  body: `
local removed = redis.call('ZREM', groupKey, agentId)
redis.call('SREM', agentGroupsKey, group)
if removed == 1 then return 'removed' end
return 'unchanged'
`,
});
