local jobsKey = KEYS[1]
local keyPrefix = ARGV[1]
local before = ARGV[2]
local limit = ARGV[3]
local statuses = ARGV[4]
local now = ARGV[5]
local retentionMs = ARGV[6]
local budget = ARGV[7]
local pruneBudget = ARGV[8]
--- @include include/keys
--- @include include/jobAt
--- @include include/jobAnswer
--- @include include/wantedStatuses
--- @include rules/jobGoneAt
--- @include rules/jobStatusAt
-- A page of jobs newest first (lib/store/scripts.ts JOB_LIST). Mirrors abortAt and jobStatusAt
-- (lib/jobs/rules.ts); budgetedPage (lib/commands/lifecycle.ts).
--
-- Jobs created before seq `before` ('0': from the newest), of the `statuses` asked for at `now`
-- (comma-separated, '' for all), each met at `now` (abortAt written first); an entry whose job is
-- gone leaves the listing. At most `budget` live entries are examined, one more to know that the
-- listing goes on, and `pruneBudget` gone ones (budgetedPage). Returns { answers, the seq the next
-- page starts before, '' at the end }.
local max, at, retention, most, mostPruned = tonumber(limit), tonumber(now), tonumber(retentionMs), tonumber(budget), tonumber(pruneBudget)
local wanted = wantedStatuses(statuses)
local out, seen, pruned, last, lastMet = {}, 0, 0, '', ''
local top = '+inf'
if tonumber(before) > 0 then top = '(' .. before end
while true do
  local batch = redis.call('ZREVRANGEBYSCORE', jobsKey, top, '-inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    if pruned >= mostPruned then return { out, lastMet } end
    local jobId, seq = batch[i], batch[i + 1]
    local jk = jobKeysOf(keyPrefix, jobId)
    local expiry = redis.call('HGET', jk.job, 'expiresAt')
    lastMet = seq
    top = '(' .. seq
    if not expiry or jobGoneAt({ expiresAt = tonumber(expiry) }, retention) <= at then
      -- Gone at `now` (its hash ends then on Redis's clock): out of the listing now, as in the memory store.
      redis.call('ZREM', jobsKey, jobId)
      pruned = pruned + 1
    else
      local state, timedOut, counts = jobAt(jk, at)
      local match = not wanted or wanted[jobStatusAt(state, counts, at)]
      if seen >= most or (match and #out >= max) then return { out, last } end
      if match then out[#out + 1] = jobAnswer(jk, timedOut) end
      seen = seen + 1
      last = seq
    end
  end
end
return { out, '' }
