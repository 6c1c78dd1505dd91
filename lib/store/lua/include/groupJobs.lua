-- plumbing: the jobs of a group as its joins and leaves meet them (group-join, group-leave and
-- group-bulk): read once per script, then applied to every agent that joins or leaves, a job's
-- targets read and written for all of them in a few commands (ZMSCORE, SMISMEMBER, one ZADD of
-- up to 500 members).
--- @include include/ms
--- @include include/keys
--- @include include/jobAt
--- @include include/keepAtLeast
--- @include rules/jobStatusAt
--- @include rules/isJobEnded
--- @include rules/takesJoiner
-- `members` (a list of ids) added to the sorted set at `key` with the scores first + 1, first + 2, ...
local function addInOrder(key, first, members)
  for from = 1, #members, 500 do
    local add = { 'ZADD', key }
    for i = from, math.min(from + 499, #members) do
      add[#add + 1] = ms(first + i)
      add[#add + 1] = members[i]
    end
    redis.call(unpack(add))
  end
end

-- The group's jobs (group-jobs) met at `at` (abortAt written first): a gone or ended one leaves
-- group-jobs (a paused or scheduled one stays); answers the keys of the continuous ones that take
-- joiners (takesJoiner: not ended, not past its schedule's end), which a joiner becomes a target of.
local function joinableJobs(groupJobsKey, prefix, at)
  local out = {}
  for _, jobId in ipairs(redis.call('SMEMBERS', groupJobsKey)) do
    local jk = jobKeysOf(prefix, jobId)
    local state, _, counts = jobAt(jk, at)
    local status = state and jobStatusAt(state, counts, at)
    if not state or isJobEnded(status) then
      redis.call('SREM', groupJobsKey, jobId)
    elseif takesJoiner(status, state.spec, at) then
      out[#out + 1] = jk
    end
  end
  return out
end

-- The joiners (`agents`, in join order) become targets of each of `jobs` (joinableJobs) after the
-- others, in that order (scores from the job's targetSeq), each once.
local function joinJobs(jobs, agents)
  for _, jk in ipairs(jobs) do
    local scores = redis.call('ZMSCORE', jk.targets, unpack(agents))
    local fresh = {}
    for i, agentId in ipairs(agents) do
      if not scores[i] then fresh[#fresh + 1] = agentId end
    end
    if #fresh > 0 then
      local last = redis.call('HINCRBY', jk.job, 'targetSeq', #fresh)
      addInOrder(jk.targets, last - #fresh, fresh)
      redis.call('HINCRBY', jk.job, 'targets', #fresh)
    end
  end
end

-- The group's jobs that are still kept, each { jobId, keys, keepUntil } (expiresAt + `retention`);
-- a gone one leaves group-jobs.
local function keptJobs(groupJobsKey, prefix, retention)
  local out = {}
  for _, jobId in ipairs(redis.call('SMEMBERS', groupJobsKey)) do
    local jk = jobKeysOf(prefix, jobId)
    local expiry = redis.call('HGET', jk.job, 'expiresAt')
    if not expiry then
      redis.call('SREM', groupJobsKey, jobId)
    else
      out[#out + 1] = { jobId = jobId, keys = jk, keepUntil = ms(tonumber(expiry) + retention) }
    end
  end
  return out
end

-- The leavers (`agents`) keep what they are still to receive: each of `jobs` (keptJobs) that has
-- one as a target without its execution goes into its agent-jobs (`agentJobsKeyFor(agentId)`),
-- kept as long as the job is (even for an agent that never polls again). Nothing is canceled.
local function leaveJobs(jobs, agents, agentJobsKeyFor)
  for _, job in ipairs(jobs) do
    local targets = redis.call('ZMSCORE', job.keys.targets, unpack(agents))
    local made = redis.call('SMISMEMBER', job.keys.execs, unpack(agents))
    for i, agentId in ipairs(agents) do
      if targets[i] and made[i] == 0 then
        local key = agentJobsKeyFor(agentId)
        redis.call('SADD', key, job.jobId)
        keepAtLeast(key, job.keepUntil)
      end
    end
  end
end
