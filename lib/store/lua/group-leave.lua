local groupKey = KEYS[1]
local agentGroupsKey = KEYS[2]
local groupJobsKey = KEYS[3]
local agentJobsKey = KEYS[4]
local groupBuildsKey = KEYS[5]
local agentMetKey = KEYS[6]
local keyPrefix = ARGV[1]
local group = ARGV[2]
local agentId = ARGV[3]
local retentionMs = ARGV[4]
--- @include include/keys
--- @include include/keepAtLeast
--- @include include/jobBuild
--- @include rules/leaveOutcome
-- Leave a group (lib/store/scripts.ts GROUP_LEAVE). Mirrors leaveOutcome (lib/groups/membership.ts).
--
-- Out of the members' sorted set and the agent's set, both at once. Nothing of a job is canceled:
-- for each job of the group (group-jobs) that has the agent as a target without its execution,
-- the job goes into agent-jobs, so the agent still finds it; a gone job leaves group-jobs. A job
-- still being created over the group (group-builds) keeps the agent as a target if it was in the
-- snapshot, and puts it in agent-jobs once written (keepLeaver). A leave that changes the agent's
-- groups drops its agent-met: its next poll takes a full look (lua/fetch.lua). Answers the LeaveOutcome.
local position = redis.call('ZSCORE', groupKey, agentId)
local removed = redis.call('ZREM', groupKey, agentId)
if redis.call('SREM', agentGroupsKey, group) == 1 then redis.call('DEL', agentMetKey) end
local outcome = leaveOutcome(removed == 1)
if outcome ~= 'removed' then return outcome end
keepLeaver(groupBuildsKey, keyPrefix, agentId, tonumber(position))
for _, jobId in ipairs(redis.call('SMEMBERS', groupJobsKey)) do
  local jk = jobKeysOf(keyPrefix, jobId)
  if redis.call('EXISTS', jk.job) == 0 then
    redis.call('SREM', groupJobsKey, jobId)
  elseif redis.call('ZSCORE', jk.targets, agentId) and redis.call('SISMEMBER', jk.execs, agentId) == 0 then
    redis.call('SADD', agentJobsKey, jobId)
    -- Kept as long as the job is, even for an agent that never polls again.
    keepAtLeast(agentJobsKey, string.format('%d', tonumber(redis.call('HGET', jk.job, 'expiresAt')) + tonumber(retentionMs)))
  end
end
return outcome
