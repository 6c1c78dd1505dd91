#!lua flags=allow-key-locking
-- The gate alone (lib/store/scripts.ts ADMIT), for requests whose handler touches no store
-- (whoami, token-info): storage only, the gate (isRevoked, slidingWindow) is all it runs.
return 1
