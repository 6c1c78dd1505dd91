local connKey = KEYS[1]
local keyPrefix = ARGV[1]
local connectionId = ARGV[2]
--- @include include/keys
-- Forgets a push connection (lib/store/scripts.ts PUSH_REMOVE), for $disconnect, which knows the
-- connection id alone: its ws-conn key names the agent, whose hash loses the connection. Storage
-- only: remove of the in-memory registry. Idempotent: a second run finds no ws-conn key and
-- answers ''. Reads the agent's key it learns here, so it cannot declare it (no key locking).
local agentId = redis.call('GET', connKey)
if not agentId then return '' end
redis.call('DEL', connKey)
redis.call('HDEL', keyPrefix .. 'ws-agent:' .. keyPart(agentId), connectionId)
return agentId
