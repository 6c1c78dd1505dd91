local logKey = KEYS[1]
local queueKey = KEYS[2]
local keyPrefix = ARGV[1]
local commandPrefix = ARGV[2]
local after = ARGV[3]
local limit = ARGV[4]
local statuses = ARGV[5]
local now = ARGV[6]
local retentionMs = ARGV[7]
--- @include include/keys
--- @include include/ruleFields
--- @include include/jobEndOf
--- @include include/writeSettled
--- @include include/wantedStatuses
--- @include rules/isGone
--- @include rules/statusOf
-- List (lib/store/scripts.ts LIST). Mirrors listPage, statusOf and isGone
-- (lib/commands/lifecycle.ts); settledExecution (lib/jobs/rules.ts).
--
-- Walks the log after the sequence `after`, in batches; settles an execution its job's forced
-- cancel ended (settledExecution); drops what is gone (the hash, its log entry, its queue entry);
-- keeps those of the `statuses` asked for (comma-separated, '' for all); returns { flat HGETALL
-- arrays, the last one's sequence when another matching command follows, else '' }.
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
local wanted = wantedStatuses(statuses)
local out = {}
local last = ''
local from = '(' .. after
while true do
  local batch = redis.call('ZRANGEBYSCORE', logKey, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local id, seq = batch[i], batch[i + 1]
    local key = commandPrefix .. id
    local r = ruleFields(key)
    if r.expiresAt and r.jobId then
      local settled
      r, settled = writeSettled(key, r, jobEndOf(jobKeysOf(keyPrefix, r.jobId).job), retention)
      if settled then redis.call('ZREM', queueKey, id) end
    end
    if not r.expiresAt then
      redis.call('ZREM', logKey, id)
    elseif isGone(r, at, retention) then
      redis.call('DEL', key)
      redis.call('ZREM', logKey, id)
      redis.call('ZREM', queueKey, id)
    elseif not wanted or wanted[statusOf(r, at)] then
      if #out == max then return { out, last } end
      out[#out + 1] = redis.call('HGETALL', key)
      last = seq
    end
    from = '(' .. seq
  end
end
return { out, '' }
