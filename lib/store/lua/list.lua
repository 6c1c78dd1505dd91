local logKey = KEYS[1]
local queueKey = KEYS[2]
local keyPrefix = ARGV[1]
local commandPrefix = ARGV[2]
local after = ARGV[3]
local limit = ARGV[4]
local statuses = ARGV[5]
local now = ARGV[6]
local retentionMs = ARGV[7]
local budget = ARGV[8]
local pruneBudget = ARGV[9]
--- @include include/keys
--- @include include/ruleFields
--- @include include/jobEndOf
--- @include include/writeSettled
--- @include include/retryMet
--- @include include/wantedStatuses
--- @include rules/isGone
--- @include rules/statusOf
-- List (lib/store/scripts.ts LIST). Mirrors listPage, budgetedPage, statusOf and isGone
-- (lib/commands/lifecycle.ts); settledExecution (lib/jobs/rules.ts).
--
-- Walks the log after the sequence `after`, in batches, examining at most `budget` live entries,
-- one more to know that the log goes on, and `pruneBudget` gone ones (budgetedPage); meets an
-- execution's retry (retryMet) and settles an execution its job's forced cancel ended (settledExecution); drops
-- what is gone (the hash, its log entry, its queue entry); keeps those of the `statuses` asked for
-- (comma-separated, '' for all); returns { flat HGETALL arrays, the sequence the next page starts
-- after, '' at the end }.
local max, at, retention, most, mostPruned = tonumber(limit), tonumber(now), tonumber(retentionMs), tonumber(budget), tonumber(pruneBudget)
local wanted = wantedStatuses(statuses)
local out, seen, pruned, last, lastMet = {}, 0, 0, '', ''
local from = '(' .. after
while true do
  local batch = redis.call('ZRANGEBYSCORE', logKey, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    if pruned >= mostPruned then return { out, lastMet } end
    local id, seq = batch[i], batch[i + 1]
    local key = commandPrefix .. id
    local r = ruleFields(key)
    if r.expiresAt and r.jobId then
      local settled
      local agentId = redis.call('HGET', key, 'agentId')
      r = retryMet(key, historyKeyOf(keyPrefix, agentId, id), agentId, r, jobKeysOf(keyPrefix, r.jobId), at, retention)
      r, settled = writeSettled(key, r, jobEndOf(jobKeysOf(keyPrefix, r.jobId).job), retention)
      if settled then redis.call('ZREM', queueKey, id) end
    end
    lastMet = seq
    from = '(' .. seq
    if not r.expiresAt then
      redis.call('ZREM', logKey, id)
      pruned = pruned + 1
    elseif isGone(r, at, retention) then
      redis.call('DEL', key)
      redis.call('ZREM', logKey, id)
      redis.call('ZREM', queueKey, id)
      pruned = pruned + 1
    else
      local match = not wanted or wanted[statusOf(r, at)]
      if seen >= most or (match and #out >= max) then return { out, last } end
      if match then out[#out + 1] = redis.call('HGETALL', key) end
      seen = seen + 1
      last = seq
    end
  end
end
return { out, '' }
