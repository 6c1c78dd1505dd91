#!lua flags=allow-key-locking
local configKey = KEYS[1]
local overrides = ARGV[1]
-- Replaces the agent's config overrides (lib/store/scripts.ts PUT_CONFIG). Storage only:
-- putConfig of the in-memory store.
redis.call('SET', configKey, overrides)
return 1
