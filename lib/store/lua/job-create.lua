local jobKey = KEYS[1]
local targetsKey = KEYS[2]
local jobsKey = KEYS[3]
local jobSeqKey = KEYS[4]
local idemKey = KEYS[5]
local keyPrefix = ARGV[1]
local jobId = ARGV[2]
local command = ARGV[3]
local args = ARGV[4]
local targets = ARGV[5]
local createdAt = ARGV[6]
local expiresAt = ARGV[7]
local timeoutMs = ARGV[8]
local continuous = ARGV[9]
local rolloutMax = ARGV[10]
local abortPercent = ARGV[11]
local abortMin = ARGV[12]
local hasDescription = ARGV[13]
local description = ARGV[14]
local keepUntil = ARGV[15]
local useKey = ARGV[16]
local fingerprint = ARGV[17]
local idemUntil = ARGV[18]
local retentionMs = ARGV[19]
--- @include generated/fields
--- @include include/keys
--- @include include/idempotencyKey
--- @include rules/jobGoneAt
--- @include rules/idempotency
-- Create a job at `createdAt` (lib/store/scripts.ts JOB_CREATE). Mirrors createdJob
-- (lib/jobs/rules.ts); idempotency and idempotentUntil (lib/commands/lifecycle.ts).
--
-- With an idempotency key (`useKey` '1'), first the key, as ENQUEUE: a live entry whose job is
-- not gone (jobGoneAt) answers `replayed` with that job's hash (same fingerprint) or `mismatch`,
-- and nothing changes; otherwise the key is (re)written. Then the target set: the union of the
-- groups' members with every score 0 (ZUNIONSTORE ... WEIGHTS 0 ... AGGREGATE MIN), the named
-- agents added at 0 (ZADD NX), so the creation targets are in byte order; their count is the
-- job's `targets` and `initialTargets`. The job's hash (spec, seq from job-seq, tally), its place
-- in the listing, group-jobs of each group and agent-jobs of each named agent; every job key kept
-- until `keepUntil` (expiresAt + retention). `targets` is the JSON of the job's targets
-- ({agents, groups}). Returns { 'created', seq, targets } or { 'replayed', hash } or { 'mismatch' }.
local now, retention = tonumber(createdAt), tonumber(retentionMs)
if useKey == '1' then
  local entry = idempotencyEntry(idemKey, JOB_IDEMPOTENCY_FIELDS, 'jobId')
  local existing, exists = nil, false
  if entry and entry['until'] > now then
    existing = jobKeysOf(keyPrefix, entry.id).job
    local expiry = redis.call('HGET', existing, 'expiresAt')
    exists = expiry ~= false and jobGoneAt({ expiresAt = tonumber(expiry) }, retention) > now
  end
  local decision = idempotency(entry, fingerprint, now, exists)
  if decision == 'replay' then return { 'replayed', redis.call('HGETALL', existing) } end
  if decision == 'mismatch' then return { 'mismatch' } end
  keepIdempotency(idemKey, 'jobId', jobId, fingerprint, idemUntil)
end
local named = cjson.decode(targets)
redis.call('DEL', jobKey, targetsKey)
if #named.groups > 0 then
  local union = { 'ZUNIONSTORE', targetsKey, #named.groups }
  for _, group in ipairs(named.groups) do union[#union + 1] = groupKeyOf(keyPrefix, group) end
  union[#union + 1] = 'WEIGHTS'
  for _ = 1, #named.groups do union[#union + 1] = '0' end
  union[#union + 1] = 'AGGREGATE'
  union[#union + 1] = 'MIN'
  redis.call(unpack(union))
end
for first = 1, #named.agents, 500 do
  local add = { 'ZADD', targetsKey, 'NX' }
  for i = first, math.min(first + 499, #named.agents) do
    add[#add + 1] = '0'
    add[#add + 1] = named.agents[i]
  end
  redis.call(unpack(add))
end
local count = string.format('%d', redis.call('ZCARD', targetsKey))
local seq = string.format('%d', redis.call('INCR', jobSeqKey))
redis.call('HSET', jobKey, 'jobId', jobId, 'command', command, 'args', args, 'targetsJson', targets, 'createdAt', createdAt,
  'expiresAt', expiresAt, 'continuous', continuous, 'seq', seq, 'targetSeq', '0', 'initialTargets', count, 'targets', count,
  'materialized', '0', 'delivered', '0', 'inProgress', '0', 'completed', '0', 'failed', '0', 'rejected', '0', 'canceled', '0',
  'updatedAt', createdAt)
if timeoutMs ~= '' then redis.call('HSET', jobKey, 'timeoutMs', timeoutMs) end
if rolloutMax ~= '' then redis.call('HSET', jobKey, 'rolloutMax', rolloutMax) end
if abortPercent ~= '' then redis.call('HSET', jobKey, 'abortPercent', abortPercent, 'abortMin', abortMin) end
if hasDescription == '1' then redis.call('HSET', jobKey, 'description', description) end
redis.call('PEXPIREAT', jobKey, keepUntil)
redis.call('PEXPIREAT', targetsKey, keepUntil)
redis.call('ZADD', jobsKey, seq, jobId)
for _, group in ipairs(named.groups) do redis.call('SADD', groupJobsKeyOf(keyPrefix, group), jobId) end
for _, agent in ipairs(named.agents) do redis.call('SADD', agentJobsKeyOf(keyPrefix, agent), jobId) end
return { 'created', seq, count }
