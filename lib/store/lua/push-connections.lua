local keyPrefix = ARGV[1]
local agents = ARGV[2]
local now = ARGV[3]
--- @include include/keys
-- The live push connections of a few agents (lib/store/scripts.ts PUSH_CONNECTIONS): for each
-- agent of the JSON list (at most MAX_AGENTS_PER_LOOKUP, 250, checked by the store), its hash's
-- entries whose `until` is after `now`, as {agentId, connectionId, entry} triples. Storage only:
-- ofAgents of the in-memory registry. A read: the lapsed stay until the agent's next
-- registration or the hash's expiry. Reads keys it learns from its input (no key locking).
local out = {}
local at = tonumber(now)
for _, agentId in ipairs(cjson.decode(agents)) do
  local flat = redis.call('HGETALL', keyPrefix .. 'ws-agent:' .. keyPart(agentId))
  for i = 1, #flat, 2 do
    local stored = cjson.decode(flat[i + 1])
    if tonumber(stored['until']) > at then
      out[#out + 1] = agentId
      out[#out + 1] = flat[i]
      out[#out + 1] = flat[i + 1]
    end
  end
end
return out
