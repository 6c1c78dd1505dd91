local jtiKey = KEYS[1]
local keyPrefix = ARGV[1]
local jti = ARGV[2]
local now = ARGV[3]
--- @include include/keys
-- The live push connections opened with one token (lib/store/scripts.ts PUSH_JTI), for a jti
-- revocation: ws-jti names the agent, whose entries with this jti and an `until` after `now` are
-- answered as {agentId, connectionId, entry} triples. Storage only: byJti of the in-memory
-- registry. Reads the agent's key it learns here (no key locking).
local agentId = redis.call('GET', jtiKey)
if not agentId then return {} end
local out = {}
local at = tonumber(now)
local flat = redis.call('HGETALL', keyPrefix .. 'ws-agent:' .. keyPart(agentId))
for i = 1, #flat, 2 do
  local stored = cjson.decode(flat[i + 1])
  if stored.jti == jti and tonumber(stored['until']) > at then
    out[#out + 1] = agentId
    out[#out + 1] = flat[i]
    out[#out + 1] = flat[i + 1]
  end
end
return out
