#!lua flags=allow-key-locking
local configKey = KEYS[1]
-- The agent's config overrides (JSON text), or nil (lib/store/scripts.ts GET_CONFIG). Storage
-- only: getConfig of the in-memory store.
return redis.call('GET', configKey)
