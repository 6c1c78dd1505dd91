local commandKey = KEYS[1]
local queueKey = KEYS[2]
local logKey = KEYS[3]
local seqKey = KEYS[4]
local idemKey = KEYS[5]
local commandPrefix = ARGV[1]
local commandId = ARGV[2]
local agentId = ARGV[3]
local command = ARGV[4]
local args = ARGV[5]
local createdAt = ARGV[6]
local expiresAt = ARGV[7]
local timeoutMs = ARGV[8]
local signature = ARGV[9]
local keepUntil = ARGV[10]
local useKey = ARGV[11]
local fingerprint = ARGV[12]
local idemUntil = ARGV[13]
local retentionMs = ARGV[14]
--- @include generated/fields
--- @include include/ruleFields
--- @include include/appendCommand
--- @include include/idempotencyKey
--- @include rules/isGone
--- @include rules/idempotency
-- Enqueue (lib/store/scripts.ts ENQUEUE). Mirrors created, idempotency and idempotentUntil, with
-- the command kept until its goneAt (lib/commands/lifecycle.ts).
--
-- With an idempotency key (`useKey` '1'), first the key: a live entry whose command is not gone
-- answers `replayed` with that command's hash when the fingerprint is the same, else `mismatch`,
-- and nothing changes; otherwise the key is (re)written. Then the hash, its place at the end of
-- the queue and of the log (the same sequence, from the agent's counter), both kept until
-- `keepUntil` (goneAt). Returns { 'created' }, { 'replayed', hash } or { 'mismatch' }.
local now, retention = tonumber(createdAt), tonumber(retentionMs)
if useKey == '1' then
  local entry = idempotencyEntry(idemKey, COMMAND_IDEMPOTENCY_FIELDS, 'commandId')
  local existing, exists = nil, false
  if entry and entry['until'] > now then
    existing = commandPrefix .. entry.id
    local r = ruleFields(existing)
    exists = r.expiresAt ~= nil and not isGone(r, now, retention)
  end
  local decision = idempotency(entry, fingerprint, now, exists)
  if decision == 'replay' then return { 'replayed', redis.call('HGETALL', existing) } end
  if decision == 'mismatch' then return { 'mismatch' } end
  keepIdempotency(idemKey, 'commandId', commandId, fingerprint, idemUntil)
end
redis.call('DEL', commandKey)
redis.call('HSET', commandKey, 'commandId', commandId, 'agentId', agentId, 'command', command, 'args', args,
  'createdAt', createdAt, 'expiresAt', expiresAt)
if timeoutMs ~= '' then redis.call('HSET', commandKey, 'timeoutMs', timeoutMs) end
if signature ~= '' then redis.call('HSET', commandKey, 'signature', signature) end
redis.call('PEXPIREAT', commandKey, keepUntil)
appendCommand(queueKey, logKey, seqKey, commandId, keepUntil, retention)
return { 'created' }
