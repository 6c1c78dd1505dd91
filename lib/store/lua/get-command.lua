#!lua flags=allow-key-locking
local commandKey = KEYS[1]
local jobKey = KEYS[2]
local historyKey = KEYS[3]
local commandId = ARGV[1]
local retentionMs = ARGV[2]
--- @include include/ruleFields
--- @include include/jobEndOf
--- @include include/writeSettled
-- One command's hash, flat (HGETALL), for the operator's read (lib/store/scripts.ts GET_COMMAND):
-- storage only (get of the in-memory store), except that an execution its job's forced cancel
-- ended is settled first (settledExecution, lib/jobs/rules.ts, written; the queue entry goes when
-- a fetch meets it). Answers { the hash, flat (HGETALL), its history (LRANGE, oldest first) }.
local r = ruleFields(commandKey)
if r.expiresAt and r.jobId == commandId then writeSettled(commandKey, r, jobEndOf(jobKey), tonumber(retentionMs)) end
return { redis.call('HGETALL', commandKey), redis.call('LRANGE', historyKey, 0, -1) }
