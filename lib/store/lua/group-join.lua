local groupKey = KEYS[1]
local seqKey = KEYS[2]
local agentGroupsKey = KEYS[3]
local groupJobsKey = KEYS[4]
local groupBuildsKey = KEYS[5]
local agentMetKey = KEYS[6]
local keyPrefix = ARGV[1]
local group = ARGV[2]
local agentId = ARGV[3]
local maxGroups = ARGV[4]
local now = ARGV[5]
--- @include include/ms
--- @include include/groupJobs
--- @include include/jobBuild
--- @include rules/joinOutcome
-- Join a group (lib/store/scripts.ts GROUP_JOIN). Mirrors joinOutcome and nextPosition
-- (lib/groups/membership.ts); abortAt and jobStatusAt (lib/jobs/rules.ts).
--
-- The agent takes the group's next position (from the counter at `seqKey`, never reused) in the
-- members' sorted set, and the group goes into the agent's set; both or neither. `maxGroups` is
-- MAX_GROUPS_PER_AGENT. Then, for each job of the group (group-jobs), met at `now` (abortAt
-- written first): a gone or ended one leaves group-jobs; a continuous one that takes joiners
-- (takesJoiner: not ended, not past its schedule's end) takes the agent as a target after the others (score from its targetSeq), once (include/groupJobs). A
-- continuous job still being created over the group (group-builds) takes it the same way
-- (addJoiner); one that is not continuous does not: its snapshot was taken before this join. The
-- agent's groups changed, so its agent-met goes: its next poll takes a full look (lua/fetch.lua).
-- Answers the JoinOutcome.
local outcome = joinOutcome(redis.call('ZSCORE', groupKey, agentId) ~= false, redis.call('SCARD', agentGroupsKey), tonumber(maxGroups))
if outcome ~= 'added' then return outcome end
local position = redis.call('INCR', seqKey)
redis.call('ZADD', groupKey, ms(position), agentId)
if redis.call('SADD', agentGroupsKey, group) == 1 then redis.call('DEL', agentMetKey) end
joinJobs(joinableJobs(groupJobsKey, keyPrefix, tonumber(now)), { agentId })
addJoiner(groupBuildsKey, keyPrefix, agentId)
return outcome
