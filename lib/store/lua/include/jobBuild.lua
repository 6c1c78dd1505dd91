-- plumbing: a job created in bounded scripts (lib/store/scripts.ts JOB_CREATE and JOB_CREATE_STEP;
-- docs/jobs.md "Large jobs"). A build `b` is the job being made: { jobId, job (the fields of its
-- job hash to be, a flat list), groups, agents (the named ones), snaps (each group's snapshot
-- position), group (the index of the group being copied), cursor (the last join position copied
-- from it), targetSeq, keepUntil, createdAt, state, step, call, untilAt }. While it is not
-- committed it lives under job-build:<job> (and its targets under job-targets:<job>, the agents
-- that left a group meanwhile under job-leavers:<job>), all kept until `untilAt` only, and
-- group-builds:<group> names it for the joins and leaves of its groups; nothing else reads it.
--
-- The snapshot of a group is its members with a join position at or below the group's last
-- position when the create began: a later join takes a higher position (group-seq never gives one
-- twice), so the copy, by position, never takes it; a member that leaves before its part is
-- copied is put in the targets by the leave itself (keepLeaver), so it is a target all the same.
--- @include generated/fields
--- @include include/ms
--- @include include/keys
--- @include include/hashFields
--- @include include/keepAtLeast
local function jobBuildKeysOf(prefix, jobId)
  local part = keyPart(jobId)
  return { build = prefix .. 'job-build:' .. part, leavers = prefix .. 'job-leavers:' .. part }
end
local function groupBuildsKeyOf(prefix, group) return prefix .. 'group-builds:' .. keyPart(group) end

-- The last join position the group has given: its group-seq, or its last member's if higher.
local function snapshotOf(prefix, group)
  local snap = tonumber(redis.call('GET', prefix .. 'group-seq:' .. keyPart(group))) or 0
  local top = redis.call('ZRANGE', groupKeyOf(prefix, group), -1, -1, 'WITHSCORES')
  if top[2] and tonumber(top[2]) > snap then snap = tonumber(top[2]) end
  return ms(snap)
end

-- Agents put in the targets at score 0 (so in byte order), at most 500 a command; one there already keeps its place.
local function addTargets(targetsKey, agents)
  for first = 1, #agents, 500 do
    local add = { 'ZADD', targetsKey, 'NX' }
    for i = first, math.min(first + 499, #agents) do
      add[#add + 1] = '0'
      add[#add + 1] = agents[i]
    end
    redis.call(unpack(add))
  end
end

-- Copies at most `budget` members of the build's groups into the targets, each group by join
-- position from b.cursor up to its snapshot, and moves b.group and b.cursor on (a group is done
-- when it gives fewer than were asked). Returns how many were copied.
local function copyTargets(b, targetsKey, prefix, budget)
  local copied = 0
  while b.group <= #b.groups and copied < budget do
    local want = budget - copied
    local rows = redis.call('ZRANGEBYSCORE', groupKeyOf(prefix, b.groups[b.group]), '(' .. b.cursor, b.snaps[b.group], 'WITHSCORES',
      'LIMIT', 0, want)
    local members = {}
    for i = 1, #rows, 2 do members[#members + 1] = rows[i] end
    addTargets(targetsKey, members)
    copied = copied + #members
    if #members > 0 then b.cursor = rows[#rows] end
    if #members < want then
      b.group = b.group + 1
      b.cursor = '0'
    end
  end
  return copied
end

-- The job written from its build: its hash (the fields gathered, seq from job-seq, the tally
-- with every target pending: createdJob), its place in the listing, group-jobs of each group and
-- agent-jobs of each named agent; the job's hash and targets kept until b.keepUntil. Returns the
-- seq and the target count, as decimal strings.
local function commitJob(b, jk, jobsKey, jobSeqKey, prefix)
  local count = ms(redis.call('ZCARD', jk.targets))
  local seq = ms(redis.call('INCR', jobSeqKey))
  redis.call('DEL', jk.job)
  redis.call('HSET', jk.job, unpack(b.job))
  redis.call('HSET', jk.job, 'seq', seq, 'targetSeq', b.targetSeq, 'initialTargets', count, 'targets', count, 'materialized', '0',
    'delivered', '0', 'inProgress', '0', 'completed', '0', 'failed', '0', 'rejected', '0', 'canceled', '0', 'updatedAt', b.createdAt)
  redis.call('PEXPIREAT', jk.job, b.keepUntil)
  redis.call('PEXPIREAT', jk.targets, b.keepUntil)
  redis.call('ZADD', jobsKey, seq, b.jobId)
  -- The indexes are kept as long as the job is (and no longer, for groups and agents that never poll).
  for _, group in ipairs(b.groups) do
    local key = groupJobsKeyOf(prefix, group)
    redis.call('SADD', key, b.jobId)
    keepAtLeast(key, b.keepUntil)
  end
  for _, agent in ipairs(b.agents) do
    local key = agentJobsKeyOf(prefix, agent)
    redis.call('SADD', key, b.jobId)
    keepAtLeast(key, b.keepUntil)
  end
  return seq, count
end

-- The build as kept under job-build:<job>; nil when there is none.
local function loadBuild(buildKey)
  local flat = redis.call('HGETALL', buildKey)
  if #flat == 0 then return nil end
  local f, job = {}, {}
  for i = 1, #flat, 2 do
    f[flat[i]] = flat[i + 1]
    if string.sub(flat[i], 1, 5) ~= 'build' then
      job[#job + 1] = flat[i]
      job[#job + 1] = flat[i + 1]
    end
  end
  local named = cjson.decode(f.targetsJson)
  return { jobId = f.jobId, job = job, groups = named.groups, agents = named.agents, snaps = cjson.decode(f.buildSnaps),
    group = tonumber(f.buildGroup), cursor = f.buildCursor, targetSeq = f.buildTargetSeq, keepUntil = f.buildKeep,
    createdAt = f.createdAt, state = f.buildState, step = f.buildStep, call = f.buildCall, untilAt = f.buildUntil }
end

-- The build's keys kept until `untilAt`: its hash and its leavers; while it is building, its
-- targets and its groups' group-builds too (once committed, the targets are the job's).
local function keepBuild(b, jk, bk, prefix, untilAt)
  b.untilAt = untilAt
  redis.call('HSET', bk.build, 'buildUntil', untilAt)
  redis.call('PEXPIREAT', bk.build, untilAt)
  redis.call('PEXPIREAT', bk.leavers, untilAt)
  if b.state ~= 'building' then return end
  redis.call('PEXPIREAT', jk.targets, untilAt)
  for _, group in ipairs(b.groups) do redis.call('PEXPIREAT', groupBuildsKeyOf(prefix, group), untilAt) end
end

-- A new build written: the job's fields, where it stands (nothing copied yet), and each group's
-- snapshot position in the group's group-builds, all kept until `untilAt`.
local function startBuild(b, jk, bk, prefix, untilAt)
  redis.call('HSET', bk.build, unpack(b.job))
  redis.call('HSET', bk.build, 'buildState', 'building', 'buildStep', '0', 'buildCall', '', 'buildGroup', '1', 'buildCursor', '0',
    'buildSnaps', cjson.encode(b.snaps), 'buildTargetSeq', '0', 'buildKeep', b.keepUntil)
  for i, group in ipairs(b.groups) do redis.call('HSET', groupBuildsKeyOf(prefix, group), b.jobId, b.snaps[i]) end
  b.state = 'building'
  keepBuild(b, jk, bk, prefix, untilAt)
end

-- At most `budget` of the agents that left a group during the build put in their agent-jobs,
-- now that the job is written (a poll drops an agent-jobs entry whose job it cannot find), each
-- kept as long as the job is.
-- Returns true when none is left.
local function drainLeavers(leaversKey, prefix, jobId, budget, keepUntil)
  for _, agent in ipairs(redis.call('SPOP', leaversKey, budget)) do
    local key = agentJobsKeyOf(prefix, agent)
    redis.call('SADD', key, jobId)
    keepAtLeast(key, keepUntil)
  end
  return redis.call('SCARD', leaversKey) == 0
end

-- The jobs being created over a group, as its join or leave meets them: { jobId, snap, keys,
-- targets, untilAt } each; an entry whose build is gone or written leaves group-builds.
local function buildsOfGroup(groupBuildsKey, prefix)
  local flat = redis.call('HGETALL', groupBuildsKey)
  local out = {}
  for i = 1, #flat, 2 do
    local id = flat[i]
    local bk = jobBuildKeysOf(prefix, id)
    local f = hashFields(bk.build, JOB_BUILD_FIELDS)
    if f.buildState ~= 'building' then
      redis.call('HDEL', groupBuildsKey, id)
    else
      out[#out + 1] = { jobId = id, snap = tonumber(flat[i + 1]), keys = bk, targets = jobKeysOf(prefix, id).targets,
        untilAt = f.buildUntil }
    end
  end
  return out
end

-- A member leaving the group (it had join position `position`): each job being created over the
-- group (`builds`, buildsOfGroup) keeps it as a target if it was in the snapshot (whether or not
-- its part was copied yet), and an agent that is its target goes into the job's leavers, for
-- agent-jobs once it is written.
local function keepLeaverIn(builds, agentId, position)
  for _, build in ipairs(builds) do
    if position <= build.snap then redis.call('ZADD', build.targets, 'NX', '0', agentId) end
    if redis.call('ZSCORE', build.targets, agentId) then
      redis.call('SADD', build.keys.leavers, agentId)
      redis.call('PEXPIREAT', build.keys.leavers, build.untilAt)
      redis.call('PEXPIREAT', build.targets, build.untilAt)
    end
  end
end
local function keepLeaver(groupBuildsKey, prefix, agentId, position)
  keepLeaverIn(buildsOfGroup(groupBuildsKey, prefix), agentId, position)
end

-- A member joining the group: a continuous job being created over it (`builds`, buildsOfGroup)
-- takes the agent as a target after the others (score from the build's buildTargetSeq, which
-- becomes the job's targetSeq), once.
local function addJoinerTo(builds, agentId)
  for _, build in ipairs(builds) do
    if redis.call('HGET', build.keys.build, 'continuous') == '1' and not redis.call('ZSCORE', build.targets, agentId) then
      redis.call('ZADD', build.targets, redis.call('HINCRBY', build.keys.build, 'buildTargetSeq', 1), agentId)
      redis.call('PEXPIREAT', build.targets, build.untilAt)
    end
  end
end
local function addJoiner(groupBuildsKey, prefix, agentId)
  addJoinerTo(buildsOfGroup(groupBuildsKey, prefix), agentId)
end
