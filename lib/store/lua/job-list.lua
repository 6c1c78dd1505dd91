local jobsKey = KEYS[1]
local keyPrefix = ARGV[1]
local before = ARGV[2]
local limit = ARGV[3]
local statuses = ARGV[4]
local now = ARGV[5]
local retentionMs = ARGV[6]
--- @include include/keys
--- @include include/jobAt
--- @include include/jobAnswer
--- @include include/wantedStatuses
--- @include rules/jobGoneAt
--- @include rules/jobStatusAt
-- A page of jobs newest first (lib/store/scripts.ts JOB_LIST). Mirrors abortAt and jobStatusAt
-- (lib/jobs/rules.ts).
--
-- Jobs created before seq `before` ('0': from the newest), of the `statuses` asked for at `now`
-- (comma-separated, '' for all), each met at `now` (abortAt written first); an entry whose job is
-- gone leaves the listing. Returns { answers, the last one's seq when another matching job
-- follows, else '' }.
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
local wanted = wantedStatuses(statuses)
local out, last = {}, ''
local top = '+inf'
if tonumber(before) > 0 then top = '(' .. before end
while true do
  local batch = redis.call('ZREVRANGEBYSCORE', jobsKey, top, '-inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local jobId, seq = batch[i], batch[i + 1]
    local jk = jobKeysOf(keyPrefix, jobId)
    local expiry = redis.call('HGET', jk.job, 'expiresAt')
    if not expiry then
      redis.call('ZREM', jobsKey, jobId)
    elseif jobGoneAt({ expiresAt = tonumber(expiry) }, retention) > at then
      local state, timedOut, counts = jobAt(jk, at)
      if not wanted or wanted[jobStatusAt(state, counts, at)] then
        if #out == max then return { out, last } end
        out[#out + 1] = jobAnswer(jk, timedOut)
        last = seq
      end
    end
    top = '(' .. seq
  end
end
return { out, '' }
