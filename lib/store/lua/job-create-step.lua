local jobKey = KEYS[1]
local targetsKey = KEYS[2]
local jobsKey = KEYS[3]
local jobSeqKey = KEYS[4]
local buildKey = KEYS[5]
local leaversKey = KEYS[6]
local keyPrefix = ARGV[1]
local step = ARGV[2]
local stepCall = ARGV[3]
local stepMembers = ARGV[4]
--- @include include/ms
--- @include include/keys
--- @include include/jobBuild
-- One step of a job's creation that JOB_CREATE began (lib/store/scripts.ts JOB_CREATE_STEP;
-- include/jobBuild). Mirrors createdJob (lib/jobs/rules.ts), as JOB_CREATE does.
--
-- While building: at most `stepMembers` members of the groups copied into the target set by join
-- position up to each group's snapshot (copyTargets); once every group is copied, the job is
-- written in the same step (commitJob, whose group-jobs take over from group-builds) and the
-- build is `committed`. Once committed: at most `stepMembers` of the agents that left a group
-- meanwhile put in their agent-jobs (drainLeavers); when none is left, the build is `done`.
--
-- Exactly once: `step` is how many steps the caller has seen done, and `stepCall` the call's own
-- id (a retry of the call by the client carries the same). The call that made the last step,
-- sent again, answers what it answered and does nothing more; a call whose `step` is not the
-- build's (another request resuming the same create went first) does nothing and answers where
-- the build is. Answers { 'more', steps done }, { 'created', the job's hash } to the call that
-- finished it, { 'replayed', the job's hash } to any other once it is finished, or { 'gone' }
-- when there is neither build nor job (the build's keys expired: nothing of it is left).
local b = loadBuild(buildKey)
if not b then
  local flat = redis.call('HGETALL', jobKey)
  if #flat > 0 then return { 'replayed', flat } end
  return { 'gone' }
end
local function answer(mine)
  if b.state == 'done' then return { mine and 'created' or 'replayed', redis.call('HGETALL', jobKey) } end
  return { 'more', b.step }
end
if b.call == stepCall then return answer(true) end
if b.step ~= step or b.state == 'done' then return answer(false) end
local budget = tonumber(stepMembers)
local jk = jobKeysOf(keyPrefix, b.jobId)
if b.state == 'building' then
  copyTargets(b, targetsKey, keyPrefix, budget)
  redis.call('HSET', buildKey, 'buildGroup', ms(b.group), 'buildCursor', b.cursor)
  redis.call('PEXPIREAT', targetsKey, b.untilAt)
  if b.group > #b.groups then
    commitJob(b, jk, jobsKey, jobSeqKey, keyPrefix)
    for _, group in ipairs(b.groups) do redis.call('HDEL', groupBuildsKeyOf(keyPrefix, group), b.jobId) end
    b.state = 'committed'
  end
end
if b.state == 'committed' and drainLeavers(leaversKey, keyPrefix, b.jobId, budget, b.keepUntil) then b.state = 'done' end
b.step = ms(tonumber(b.step) + 1)
redis.call('HSET', buildKey, 'buildState', b.state, 'buildStep', b.step, 'buildCall', stepCall)
return answer(true)
