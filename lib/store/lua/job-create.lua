local jobKey = KEYS[1]
local targetsKey = KEYS[2]
local jobsKey = KEYS[3]
local jobSeqKey = KEYS[4]
local idemKey = KEYS[5]
local buildKey = KEYS[6]
local leaversKey = KEYS[7]
local keyPrefix = ARGV[1]
local jobId = ARGV[2]
local command = ARGV[3]
local args = ARGV[4]
local targets = ARGV[5]
local createdAt = ARGV[6]
local expiresAt = ARGV[7]
local timeoutMs = ARGV[8]
local continuous = ARGV[9]
local specFields = ARGV[10]
local hasDescription = ARGV[11]
local description = ARGV[12]
local keepUntil = ARGV[13]
local useKey = ARGV[14]
local fingerprint = ARGV[15]
local idemUntil = ARGV[16]
local retentionMs = ARGV[17]
local maxTargets = ARGV[18]
local stepMembers = ARGV[19]
local buildUntil = ARGV[20]
--- @include generated/fields
--- @include include/keys
--- @include include/idempotencyKey
--- @include include/jobBuild
--- @include rules/jobGoneAt
--- @include rules/idempotency
--- @include rules/targetsOutcome
-- Create a job at `createdAt`, or begin to (lib/store/scripts.ts JOB_CREATE). Mirrors
-- targetsOutcome and createdJob (lib/jobs/rules.ts); idempotency and idempotentUntil
-- (lib/commands/lifecycle.ts).
--
-- With an idempotency key (`useKey` '1'), first the key, as ENQUEUE: a live entry whose job is
-- not gone (jobGoneAt) answers `replayed` with that job's hash (same fingerprint) or `mismatch`,
-- and nothing changes; a live entry whose job is still being built (include/jobBuild) is the same
-- request again: its build is kept longer and answered `building`, for the caller to go on with
-- its steps. Then the targets are counted before anything is written: the sizes of the groups
-- (ZCARD) and the named agents added up (targetsOutcome against `maxTargets`, MAX_JOB_TARGETS):
-- `too_many_targets` or `no_targets` answer with that count and write nothing, the key
-- included. Otherwise the key is (re)written.
--
-- At most `stepMembers` counted: the whole job in this script. The named agents and each group's
-- members (by join position) go into the target set at score 0, so the creation targets are in
-- byte order; their count is the job's `targets` and `initialTargets`; the job's hash (spec, seq
-- from job-seq, tally), its place in the listing, group-jobs of each group and agent-jobs of each
-- named agent (commitJob); every job key kept until `keepUntil` (expiresAt + retention). Answers
-- { 'created', seq, targets }.
--
-- More: the build begins, and nothing of the job can be seen yet. The named agents go into the
-- target set, each group's snapshot position is taken (snapshotOf) and the build written
-- (startBuild), its keys kept until `buildUntil` only. Answers { 'building', jobId, '0' }: the
-- caller runs JOB_CREATE_STEP until the job is written. `targets` is the JSON of the job's
-- targets ({agents, groups}); `specFields` the JSON array of the spec's optional settings as
-- field, value, field, value ... (the spec option fields of lib/store/fields.ts), added
-- to the job's hash as they are.
local now, retention = tonumber(createdAt), tonumber(retentionMs)
local jk = jobKeysOf(keyPrefix, jobId)
if useKey == '1' then
  local entry = idempotencyEntry(idemKey, JOB_IDEMPOTENCY_FIELDS, 'jobId')
  local existing, exists, build = nil, false, nil
  if entry and entry['until'] > now then
    existing = jobKeysOf(keyPrefix, entry.id)
    local expiry = redis.call('HGET', existing.job, 'expiresAt')
    exists = expiry ~= false and jobGoneAt({ expiresAt = tonumber(expiry) }, retention) > now
    local bk = jobBuildKeysOf(keyPrefix, entry.id)
    build = loadBuild(bk.build)
    if build and build.state == 'done' then build = nil end
    if build then keepBuild(build, existing, bk, keyPrefix, buildUntil) end
  end
  local decision = idempotency(entry, fingerprint, now, exists or build ~= nil)
  if decision == 'mismatch' then return { 'mismatch' } end
  if decision == 'replay' and build then return { 'building', build.jobId, build.step } end
  if decision == 'replay' then return { 'replayed', redis.call('HGETALL', existing.job) } end
end
local named = cjson.decode(targets)
local counted = #named.agents
for _, group in ipairs(named.groups) do counted = counted + redis.call('ZCARD', groupKeyOf(keyPrefix, group)) end
local verdict = targetsOutcome(counted, continuous == '1', tonumber(maxTargets))
if verdict ~= 'create' then return { verdict, ms(counted) } end
if useKey == '1' then keepIdempotency(idemKey, 'jobId', jobId, fingerprint, idemUntil) end
local job = { 'jobId', jobId, 'command', command, 'args', args, 'targetsJson', targets, 'createdAt', createdAt, 'expiresAt', expiresAt,
  'continuous', continuous }
local function also(...)
  for _, value in ipairs({ ... }) do job[#job + 1] = value end
end
if timeoutMs ~= '' then also('timeoutMs', timeoutMs) end
also(unpack(cjson.decode(specFields)))
if hasDescription == '1' then also('description', description) end
local b = { jobId = jobId, job = job, groups = named.groups, agents = named.agents, snaps = {}, group = 1, cursor = '0', targetSeq = '0',
  keepUntil = keepUntil, createdAt = createdAt }
for i, group in ipairs(named.groups) do b.snaps[i] = snapshotOf(keyPrefix, group) end
redis.call('DEL', jobKey, targetsKey, buildKey, leaversKey)
addTargets(targetsKey, named.agents)
if counted <= tonumber(stepMembers) then
  copyTargets(b, targetsKey, keyPrefix, counted + 1)
  local seq, count = commitJob(b, jk, jobsKey, jobSeqKey, keyPrefix)
  return { 'created', seq, count }
end
startBuild(b, jk, jobBuildKeysOf(keyPrefix, jobId), keyPrefix, buildUntil)
return { 'building', jobId, '0' }
