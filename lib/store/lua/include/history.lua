-- plumbing: a command's history (<p>history:<agent>:<commandId>; lib/commands/history.ts, whose
-- appendHistory the in-memory store calls): one JSON entry per written change of its status,
-- appended by the scripts that write the change, one line each.
--- @include generated/constants
--- @include include/keys
local function historyKeyOf(prefix, agentId, commandId) return prefix .. 'history:' .. keyPart(agentId) .. ':' .. commandId end

-- The attempt a change of `record` belongs to (attemptOf): 1 while a command has a single attempt.
local function historyAttempt(record) return tonumber(record.attempt) or 1 end

-- The change of `record` (its command's hash at `commandKey`, already written) to `status` at
-- `at` (a decimal string), with an in_progress update's `details` (JSON text) or a cancel's
-- `reason` (either may be nil): appended, the HISTORY_KEPT + 1 most recent kept (one more than
-- shown, so that a reader knows older ones went), and the history expiring with the command
-- (the hash's PTTL, read after its own expiry was written).
local function appendHistory(historyKey, commandKey, status, at, record, details, reason)
  local entry = { status = status, at = at, attempt = historyAttempt(record) }
  if details then entry.statusDetailsJson = details end
  if reason then entry.reason = reason end
  redis.call('RPUSH', historyKey, cjson.encode(entry))
  redis.call('LTRIM', historyKey, -(HISTORY_KEPT + 1), -1)
  local ttl = redis.call('PTTL', commandKey)
  if ttl > 0 then redis.call('PEXPIRE', historyKey, ttl) end
end
