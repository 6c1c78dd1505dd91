#!lua flags=allow-key-locking
local cutoffKey = KEYS[1]
local cutoff = ARGV[1]
--- @include rules/raisedCutoff
-- Revoke a subject (lib/store/scripts.ts RAISE_CUTOFF): the stored cut-off becomes raisedCutoff
-- (lib/auth/revocation.ts) of what is stored and the new one (already whole seconds), written
-- only when that changes it.
local current = tonumber(redis.call('GET', cutoffKey))
if raisedCutoff(current, tonumber(cutoff)) ~= current then redis.call('SET', cutoffKey, cutoff) end
return 1
