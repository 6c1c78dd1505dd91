local groupKey = KEYS[1]
local seqKey = KEYS[2]
local groupJobsKey = KEYS[3]
local groupBuildsKey = KEYS[4]
local keyPrefix = ARGV[1]
local group = ARGV[2]
local addJson = ARGV[3]
local removeJson = ARGV[4]
local maxGroups = ARGV[5]
local now = ARGV[6]
local retentionMs = ARGV[7]
--- @include include/ms
--- @include include/keys
--- @include include/groupJobs
--- @include include/jobBuild
--- @include rules/joinOutcome
--- @include rules/leaveOutcome
-- Many agents out of and into one group at once (lib/store/scripts.ts GROUP_BULK): each as
-- GROUP_LEAVE and GROUP_JOIN do it for one, in one script. Mirrors leaveOutcome, joinOutcome and
-- nextPosition (lib/groups/membership.ts); abortAt and jobStatusAt (lib/jobs/rules.ts).
--
-- `addJson` and `removeJson` are JSON arrays of distinct agent ids, at most 1,000 together, none
-- in both (the handler checked). The leaves first, then the joins, each in the order given. The
-- group's members are read and written for all of them at once (ZMSCORE, ZREM, one INCRBY of
-- group-seq and ZADDs in join order: the positions single joins would take), each agent's own set
-- one command (SREM, or SCARD then SADD); the group's jobs (include/groupJobs) and builds
-- (include/jobBuild) are read once and applied to every agent as a single join or leave applies
-- them, at `now`. A join refused by the 64-group limit (`maxGroups`) changes nothing for that
-- agent. Every agent whose groups changed loses its agent-met (its next poll takes a full look).
-- Answers { added, removed, unchanged, { refused agent ids } }.
local at, retention, most = tonumber(now), tonumber(retentionMs), tonumber(maxGroups)
local unchanged, refused, stale = 0, {}, {}
local builds
local function buildsNow()
  builds = builds or buildsOfGroup(groupBuildsKey, keyPrefix)
  return builds
end
local leavers, left = cjson.decode(removeJson), {}
if #leavers > 0 then
  local positions = redis.call('ZMSCORE', groupKey, unpack(leavers))
  for i, agentId in ipairs(leavers) do
    if redis.call('SREM', agentGroupsKeyOf(keyPrefix, agentId), group) == 1 then stale[#stale + 1] = agentMetKeyOf(keyPrefix, agentId) end
    if leaveOutcome(positions[i] ~= false) == 'removed' then
      left[#left + 1] = agentId
      keepLeaverIn(buildsNow(), agentId, tonumber(positions[i]))
    else
      unchanged = unchanged + 1
    end
  end
end
if #left > 0 then
  for from = 1, #left, 500 do redis.call('ZREM', groupKey, unpack(left, from, math.min(from + 499, #left))) end
  leaveJobs(keptJobs(groupJobsKey, keyPrefix, retention), left, function(agentId) return agentJobsKeyOf(keyPrefix, agentId) end)
end
local joiners, joined = cjson.decode(addJson), {}
if #joiners > 0 then
  local scores = redis.call('ZMSCORE', groupKey, unpack(joiners))
  for i, agentId in ipairs(joiners) do
    local agentGroupsKey = agentGroupsKeyOf(keyPrefix, agentId)
    local outcome = joinOutcome(scores[i] ~= false, redis.call('SCARD', agentGroupsKey), most)
    if outcome == 'added' then
      joined[#joined + 1] = agentId
      if redis.call('SADD', agentGroupsKey, group) == 1 then stale[#stale + 1] = agentMetKeyOf(keyPrefix, agentId) end
    elseif outcome == 'unchanged' then
      unchanged = unchanged + 1
    else
      refused[#refused + 1] = agentId
    end
  end
end
if #joined > 0 then
  addInOrder(groupKey, redis.call('INCRBY', seqKey, #joined) - #joined, joined)
  joinJobs(joinableJobs(groupJobsKey, keyPrefix, at), joined)
  for _, agentId in ipairs(joined) do addJoinerTo(buildsNow(), agentId) end
end
for from = 1, #stale, 500 do redis.call('DEL', unpack(stale, from, math.min(from + 499, #stale))) end
return { #joined, #left, unchanged, refused }
