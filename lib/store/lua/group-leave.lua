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
--- @include include/groupJobs
--- @include include/jobBuild
--- @include rules/leaveOutcome
-- Leave a group (lib/store/scripts.ts GROUP_LEAVE). Mirrors leaveOutcome (lib/groups/membership.ts).
--
-- Out of the members' sorted set and the agent's set, both at once. Nothing of a job is canceled:
-- for each job of the group (group-jobs) that has the agent as a target without its execution,
-- the job goes into agent-jobs, so the agent still finds it; a gone job leaves group-jobs
-- (include/groupJobs). A job still being created over the group (group-builds) keeps the agent
-- as a target if it was in the snapshot, and puts it in agent-jobs once written (keepLeaver). A
-- leave that changes the agent's groups drops its agent-met: its next poll takes a full look
-- (lua/fetch.lua). Answers the LeaveOutcome.
local position = redis.call('ZSCORE', groupKey, agentId)
local removed = redis.call('ZREM', groupKey, agentId)
if redis.call('SREM', agentGroupsKey, group) == 1 then redis.call('DEL', agentMetKey) end
local outcome = leaveOutcome(removed == 1)
if outcome ~= 'removed' then return outcome end
keepLeaver(groupBuildsKey, keyPrefix, agentId, tonumber(position))
leaveJobs(keptJobs(groupJobsKey, keyPrefix, tonumber(retentionMs)), { agentId }, function() return agentJobsKey end)
return outcome
