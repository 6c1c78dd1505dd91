#!lua flags=allow-key-locking
local commandKey = KEYS[1]
local jobKey = KEYS[2]
local historyKey = KEYS[3]
local jobDeliveredKey = KEYS[4]
local jobInProgressKey = KEYS[5]
local jobRetryKey = KEYS[6]
local commandId = ARGV[1]
local retentionMs = ARGV[2]
local now = ARGV[3]
--- @include include/ruleFields
--- @include include/jobEndOf
--- @include include/writeSettled
--- @include include/retryMet
-- One command's hash, flat (HGETALL), for the operator's read (lib/store/scripts.ts GET_COMMAND):
-- storage only (get of the in-memory store), except that an execution is met first: with `now`
-- (not ''), its retry (retryMet: a timeout retried written as its next attempt, one waiting for
-- its retry that the job's end caught canceled), then, when its job's forced cancel ended it,
-- settled (settledExecution, lib/jobs/rules.ts, written; the queue entry goes when a fetch meets
-- it). Answers { the hash, flat (HGETALL), its history (LRANGE, oldest first) }.
local r = ruleFields(commandKey)
if r.expiresAt and r.jobId == commandId then
  local retention = tonumber(retentionMs)
  if now ~= '' then
    local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey, retry = jobRetryKey }
    r = retryMet(commandKey, historyKey, redis.call('HGET', commandKey, 'agentId'), r, jk, tonumber(now), retention)
  end
  writeSettled(commandKey, r, jobEndOf(jobKey), retention)
end
return { redis.call('HGETALL', commandKey), redis.call('LRANGE', historyKey, 0, -1) }
