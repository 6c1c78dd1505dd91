-- mirrors: lib/commands/lifecycle.ts idempotency
-- What a create with an Idempotency-Key does at `at`: 'create' when the key is new (or its window
-- has passed, or what it made is gone), 'replay' for the same request, 'mismatch' for another one.
-- `entry`: nil or { fingerprint, until } (until is a Lua keyword: entry['until']).
local function idempotency(entry, fingerprint, at, exists)
  if not entry or entry['until'] <= at or not exists then return 'create' end
  if entry.fingerprint == fingerprint then return 'replay' end
  return 'mismatch'
end
