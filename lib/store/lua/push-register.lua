#!lua flags=allow-key-locking
local agentKey = KEYS[1]
local connKey = KEYS[2]
local jtiKey = KEYS[3]
local connectionId = ARGV[1]
local agentId = ARGV[2]
local hasJti = ARGV[3]
local entry = ARGV[4]
local connectedAt = ARGV[5]
local expiresAt = ARGV[6]
local maxConnections = ARGV[7]
--- @include include/keepAtLeast
-- Registers a push connection of an agent (lib/store/scripts.ts PUSH_REGISTER), behind the gate
-- of the $connect request's token. Storage only: register of the in-memory registry
-- (lib/store/connections-memory.ts). The agent's hash holds its connections (field: the
-- connection id, value: the entry JSON the store made, whose `at` and `until` this reads); an
-- entry whose `until` is at or before `connectedAt` has lapsed and goes here. A connection already
-- registered changes nothing. With `maxConnections` live ones, the oldest (by `at`, then id) is
-- evicted and named in the answer: the caller closes it, and its $disconnect removes its
-- ws-conn key. Bounded: the hash holds at most `maxConnections` + the lapsed, and every
-- registration drops the lapsed. Answers {outcome, evicted id or ''}.
local now = tonumber(connectedAt)
local flat = redis.call('HGETALL', agentKey)
local live = {}
for i = 1, #flat, 2 do
  local stored = cjson.decode(flat[i + 1])
  if tonumber(stored['until']) <= now then
    redis.call('HDEL', agentKey, flat[i])
  else
    live[#live + 1] = { id = flat[i], at = tonumber(stored.at) }
  end
end
for _, known in ipairs(live) do
  if known.id == connectionId then return {'unchanged', ''} end
end
local evicted = ''
if #live >= tonumber(maxConnections) then
  local oldest = nil
  for _, known in ipairs(live) do
    if oldest == nil or known.at < oldest.at or (known.at == oldest.at and known.id < oldest.id) then oldest = known end
  end
  redis.call('HDEL', agentKey, oldest.id)
  evicted = oldest.id
end
redis.call('HSET', agentKey, connectionId, entry)
keepAtLeast(agentKey, expiresAt)
redis.call('SET', connKey, agentId, 'PXAT', expiresAt)
if hasJti == '1' then
  redis.call('SET', jtiKey, agentId, 'KEEPTTL')
  keepAtLeast(jtiKey, expiresAt)
end
return {'registered', evicted}
