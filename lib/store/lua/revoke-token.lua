#!lua flags=allow-key-locking
local revokedKey = KEYS[1]
local exat = ARGV[1]
-- Revoke one token (lib/store/scripts.ts REVOKE_TOKEN): the denylist entry, gone at `exat` (epoch
-- s), or kept for good when `exat` is ''. Storage only: revokeToken of the in-memory store; the
-- entry is live until its EXAT (isLive, lib/auth/revocation.ts).
if exat == '' then redis.call('SET', revokedKey, '1') else redis.call('SET', revokedKey, '1', 'EXAT', exat) end
return 1
