local jobKey = KEYS[1]
local targetsKey = KEYS[2]
local execsKey = KEYS[3]
local jobDeliveredKey = KEYS[4]
local jobInProgressKey = KEYS[5]
local jobRetryKey = KEYS[6]
local keyPrefix = ARGV[1]
local jobId = ARGV[2]
local after = ARGV[3]
local limit = ARGV[4]
local statuses = ARGV[5]
local now = ARGV[6]
local retentionMs = ARGV[7]
local budget = ARGV[8]
--- @include include/ms
--- @include include/keys
--- @include include/ruleFields
--- @include include/jobAt
--- @include include/jobAnswer
--- @include include/writeSettled
--- @include include/retryMet
--- @include include/timedOutAt
--- @include include/wantedStatuses
--- @include include/listedCommand
--- @include rules/isGone
--- @include rules/statusOf
--- @include rules/jobGoneAt
--- @include rules/undeliveredStatus
-- A page of a job's targets (lib/store/scripts.ts JOB_EXECUTIONS). Mirrors abortAt,
-- settledExecution and undeliveredStatus (lib/jobs/rules.ts); budgetedPage, statusOf and isGone
-- (lib/commands/lifecycle.ts).
--
-- The targets in target order (rank in job-targets) from offset `after`, each with its status at
-- `now`: its execution's (cmd:<agent>:<job>, settled: settledExecution), an execution past
-- retention left out, a target without one by undeliveredStatus; of the `statuses` asked for.
-- The job met at `now` first (abortAt). At most `budget` targets are examined, one more to know
-- that the listing goes on (budgetedPage), so a page costs the same whatever the filter matches. Returns { 'ok', the job's answer, { agent,
-- status, flat hash without the result or {}, the result's start or '' (include/listedCommand) } each, the offset the next page starts
-- at ('' at the end) } or { 'not_found' }.
local max, at, retention, most = tonumber(limit), tonumber(now), tonumber(retentionMs), tonumber(budget)
local expiry = redis.call('HGET', jobKey, 'expiresAt')
if not expiry or jobGoneAt({ expiresAt = tonumber(expiry) }, retention) <= at then return { 'not_found' } end
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey, retry = jobRetryKey }
local state = jobAt(jk, at)
local wanted = wantedStatuses(statuses)
local undelivered = undeliveredStatus(state, at).status
local out, seen, last = {}, 0, ''
local rank = tonumber(after)
while true do
  local agents = redis.call('ZRANGE', targetsKey, rank, rank + 99)
  if #agents == 0 then break end
  for _, agent in ipairs(agents) do
    local status, key = undelivered, nil
    if redis.call('SISMEMBER', execsKey, agent) == 1 then
      key = commandKeyOf(keyPrefix, agent, jobId)
      local r = ruleFields(key)
      status = nil
      if r.expiresAt then
        local settled
        r = retryMet(key, historyKeyOf(keyPrefix, agent, jobId), agent, r, jk, at, retention)
        r, settled = writeSettled(key, r, state['end'], retention)
        if settled then redis.call('ZREM', queueKeyOf(keyPrefix, agent), jobId) end
        if not isGone(r, at, retention) then status = statusOf(r, at) end
      end
    end
    -- A target never leaves: one whose execution is past retention is passed over, not dropped.
    local match = status and (not wanted or wanted[status])
    -- The job as the page leaves it: a timeout retried on the way moved its tally and retry set.
    if seen >= most or (match and #out >= max) then return { 'ok', jobAnswer(jk, timedOutAt(jk, at, state)), out, last } end
    if match then
      local flat, excerpt = {}, ''
      if key then flat, excerpt = listedCommand(key, status) end
      out[#out + 1] = { agent, status, flat, excerpt }
    end
    seen = seen + 1
    rank = rank + 1
    last = ms(rank)
  end
end
return { 'ok', jobAnswer(jk, timedOutAt(jk, at, state)), out, '' }
