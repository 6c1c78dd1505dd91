local queueKey = KEYS[1]
local logKey = KEYS[2]
local seqKey = KEYS[3]
local agentGroupsKey = KEYS[4]
local agentJobsKey = KEYS[5]
local jobSeqKey = KEYS[6]
local agentMetKey = KEYS[7]
local keyPrefix = ARGV[1]
local commandPrefix = ARGV[2]
local agentId = ARGV[3]
local limit = ARGV[4]
local now = ARGV[5]
local retentionMs = ARGV[6]
local metKeepMs = ARGV[7]
--- @include generated/fields/AGENT_MET_FIELDS
--- @include include/hashFields
-- Fetch (lib/store/scripts.ts FETCH). Mirrors isDeliverable, delivered and isGone
-- (lib/commands/lifecycle.ts); settledExecution, abortAt, mayDeliver, executionRecord and retally
-- (lib/jobs/rules.ts).
--
-- Walks the queue oldest first; drops what is in a terminal state at `now` (a hash gone,
-- finished, timed out or expired; such a hash stays for get and the log until it is gone), and an
-- execution its job's forced cancel ended (settledExecution, written, not handed out); counts a
-- delivery on each one handed out (delivered), and the first stamps deliveredAt and starts its
-- deadline. Then, while the page has room, the agent's candidate jobs oldest first: every job of
-- agent-jobs (a small set: what it must still look at outside its groups), and the jobs of its
-- groups. A full look takes every group-jobs of its groups; it is needed only when something may
-- have put a job there for the agent since its last full look, which agent-met remembers: the job
-- counter then (a job created since moved it); and a join or leave that changes the agent's groups
-- drops agent-met (a join can make it a target of a continuous job of a group), so the poll does
-- not read its groups to see they moved. Otherwise the poll takes agent-met's `wait` instead: the jobs the
-- last look left open (a target the brakes held back, a continuous job it is not a target of,
-- one the page had no room for). Every other job of a look is settled for this agent for good:
-- gone or ended, its execution made, or (not continuous) no target of it; a job a leave puts in
-- agent-jobs is found there. So the index entries of a job that ended go at the next full look,
-- not at the polls in between. In a look, a gone job leaves the index it was found in; each is
-- met at `now` (abortAt written first); one that has ended (isJobEnded) leaves agent-jobs and
-- its groups' group-jobs (a paused one stays, held back as the brakes hold a target back); one the agent has its execution of leaves agent-jobs (agent-jobs is kept
-- until the latest jobGoneAt of the jobs met in it); a target the brakes allow (mayDeliver:
-- rollout counted in job-rollout, at its rate now, rolloutRate) gets its execution made (executionRecord), appended to its
-- queue and log, counted (retally), handed out at once, and leaves agent-jobs. agent-met is kept
-- `metKeepMs` from the full look that wrote it, so a full look comes at least that often; an
-- agent in no group keeps none (agent-jobs, read whole on every poll, is all it has to look at).
-- Returns up to `limit` flat HGETALL arrays.
local max, at, retention = tonumber(limit), tonumber(now), tonumber(retentionMs)
if max < 1 then return {} end
-- An agent in no group has agent-jobs alone to look at, read whole on every poll: no agent-met.
local inGroups = redis.call('SCARD', agentGroupsKey) > 0
local jobSeq, met, fullLook = nil, { wait = '{}' }, false
if inGroups then
  jobSeq = redis.call('GET', jobSeqKey) or '0'
  met = hashFields(agentMetKey, AGENT_MET_FIELDS)
  fullLook = met.lookSeq ~= jobSeq or not met.wait
end
-- Most polls find agent-jobs and the queue both empty: one EXISTS of the two says so (Redis keeps
-- no empty set or sorted set), in place of a read of each.
local agentJobs, ids = {}, {}
if redis.call('EXISTS', agentJobsKey, queueKey) > 0 then
  agentJobs = redis.call('SMEMBERS', agentJobsKey)
  ids = redis.call('ZRANGE', queueKey, 0, 99)
end
-- Nothing queued and no job to look at: done before the tables and functions below are made (a
-- script makes every table and function it defines anew on each call).
if #ids == 0 and #agentJobs == 0 and not fullLook and met.wait == '{}' then return {} end
--- @include generated/fields
--- @include generated/constants
--- @include include/ms
--- @include include/keys
--- @include include/ruleFields
--- @include include/appendCommand
--- @include include/history
--- @include include/jobEndOf
--- @include include/jobAt
--- @include include/writeSettled
--- @include include/writeRetally
--- @include include/retryMet
--- @include rules/goneAt
--- @include rules/isGone
--- @include rules/isDeliverable
--- @include rules/delivered
--- @include rules/jobStatusAt
--- @include rules/isJobEnded
--- @include rules/jobGoneAt
--- @include rules/rolloutWindowStart
--- @include rules/rolloutRate
--- @include rules/mayDeliver
--- @include rules/executionRecord
-- Deliveries that count against the job's rollout at `at` (0 without one), read from
-- job-rollout after dropping entries two windows old.
local function rolloutRecent(jk, spec)
  if not spec.rollout then return 0 end
  redis.call('ZREMRANGEBYSCORE', jk.rollout, '-inf', '(' .. ms(at - 2 * ROLLOUT_WINDOW_MS))
  return redis.call('ZCOUNT', jk.rollout, '(' .. ms(rolloutWindowStart(at)), '+inf')
end
-- A retry's delivery at `at` (its job's keys `jk`): the job met, the brakes as for a first
-- delivery (mayDeliver: in progress, the rollout's rate now); the job's state when allowed, else nil.
local function retryAllowed(jk)
  local state, _, counts = jobAt(jk, at)
  if not state then return nil end
  local status = jobStatusAt(state, counts, at)
  local target = { isTarget = true, hasExecution = false }
  if mayDeliver(status, state.spec, at, target, rolloutRecent(jk, state.spec), rolloutRate(state.spec.rollout, state.tally)) then
    return state
  end
  return nil
end
local out = {}
local start = 0
while #out < max do
  if not ids then ids = redis.call('ZRANGE', queueKey, start, start + 99) end
  if #ids == 0 then break end
  local dropped = 0
  for _, id in ipairs(ids) do
    local key = commandPrefix .. id
    local r = ruleFields(key)
    local retryJob = nil
    if r.expiresAt and r.jobId then
      local jk = jobKeysOf(keyPrefix, r.jobId)
      r = retryMet(key, historyKeyOf(keyPrefix, agentId, id), agentId, r, jk, at, retention)
      r = writeSettled(key, r, jobEndOf(jk.job), retention)
      if not r.deliveredAt and not r.resultStatus then retryJob = jk end
    end
    local retryState = nil
    if retryJob and isDeliverable(r, at) then retryState = retryAllowed(retryJob) end
    if not r.expiresAt or not isDeliverable(r, at) then
      redis.call('ZREM', queueKey, id)
      dropped = dropped + 1
      if r.expiresAt and isGone(r, at, retention) then redis.call('DEL', key) end
    elseif retryJob and not retryState then
      -- A retry its job's brakes hold back: it waits in the queue.
    else
      local handed = delivered(r, at)
      redis.call('HINCRBY', key, 'deliveryCount', 1)
      if not r.deliveredAt then
        redis.call('HSET', key, 'deliveredAt', now, 'updatedAt', now)
        if handed.deadlineAt ~= r.deadlineAt then
          redis.call('HSET', key, 'deadlineAt', ms(handed.deadlineAt))
          redis.call('PEXPIREAT', key, ms(goneAt(handed, retention)))
        end
        appendHistory(historyKeyOf(keyPrefix, agentId, id), key, 'delivered', now, handed)
      end
      if retryState then
        -- A retry delivered: counted (retally) and in the rollout window as `agent#attempt`.
        local keep = ms(jobGoneAt(retryState.spec, retention))
        if retryState.spec.rollout then
          redis.call('ZADD', retryJob.rollout, now, agentId .. '#' .. (r.attempt or 1))
          redis.call('PEXPIREAT', retryJob.rollout, keep)
        end
        writeRetally(retryJob, retryState, agentId, r, handed, at, keep)
      end
      out[#out + 1] = redis.call('HGETALL', key)
      if #out >= max then break end
    end
  end
  start = start + #ids - dropped
  ids = nil
end
if #out >= max then return out end
local candidates, seen = {}, {}
local function consider(jobId, indexKey)
  if seen[jobId] then return end
  local jk = jobKeysOf(keyPrefix, jobId)
  local seq = redis.call('HGET', jk.job, 'seq')
  if not seq then
    if indexKey then redis.call('SREM', indexKey, jobId) end
    return
  end
  seen[jobId] = true
  candidates[#candidates + 1] = { jobId = jobId, seq = tonumber(seq), keys = jk, fromAgentJobs = indexKey == agentJobsKey }
end
for _, jobId in ipairs(agentJobs) do consider(jobId, agentJobsKey) end
if fullLook then
  for _, group in ipairs(redis.call('SMEMBERS', agentGroupsKey)) do
    local indexKey = groupJobsKeyOf(keyPrefix, group)
    for _, jobId in ipairs(redis.call('SMEMBERS', indexKey)) do consider(jobId, indexKey) end
  end
else
  for _, jobId in ipairs(cjson.decode(met.wait)) do consider(jobId, nil) end
end
table.sort(candidates, function(a, b) return a.seq < b.seq end)
local wait = {}
for _, candidate in ipairs(candidates) do
  local jk, jobId = candidate.keys, candidate.jobId
  if #out >= max then
    wait[#wait + 1] = jobId
  else
    local state, _, counts = jobAt(jk, at)
    local jobStatus = jobStatusAt(state, counts, at)
    if candidate.fromAgentJobs then
      keepAtLeast(agentJobsKey, ms(jobGoneAt(state.spec, retention)))
    end
    if isJobEnded(jobStatus) then
      redis.call('SREM', agentJobsKey, jobId)
      for _, group in ipairs(cjson.decode(redis.call('HGET', jk.job, 'targetsJson')).groups) do
        redis.call('SREM', groupJobsKeyOf(keyPrefix, group), jobId)
      end
    elseif redis.call('SISMEMBER', jk.execs, agentId) == 1 then
      redis.call('SREM', agentJobsKey, jobId)
    else
      -- Not ended, so not expired: the brakes decide (paused: nothing; the rollout window read only for a target).
      local isTarget = redis.call('ZSCORE', jk.targets, agentId) ~= false
      local recent = 0
      if isTarget then recent = rolloutRecent(jk, state.spec) end
      if mayDeliver(jobStatus, state.spec, at, { isTarget = isTarget, hasExecution = false }, recent, rolloutRate(state.spec.rollout, state.tally)) then
        local spec = hashFields(jk.job, EXECUTION_SPEC_FIELDS)
        local made = executionRecord({ jobId = jobId, command = spec.command, args = spec.args, createdAt = tonumber(spec.createdAt),
          expiresAt = state.spec.expiresAt, timeoutMs = tonumber(spec.timeoutMs) }, agentId, at)
        local key = commandPrefix .. jobId
        redis.call('DEL', key)
        redis.call('HSET', key, 'commandId', made.commandId, 'agentId', made.agentId, 'command', made.command, 'args', made.args,
          'createdAt', spec.createdAt, 'expiresAt', ms(made.expiresAt), 'jobId', made.jobId, 'deliveredAt', now, 'deliveryCount',
          ms(made.deliveryCount), 'updatedAt', now)
        if made.timeoutMs then redis.call('HSET', key, 'timeoutMs', spec.timeoutMs, 'deadlineAt', ms(made.deadlineAt)) end
        local keepUntil, jobKeep = ms(goneAt(made, retention)), ms(jobGoneAt(state.spec, retention))
        redis.call('PEXPIREAT', key, keepUntil)
        appendHistory(historyKeyOf(keyPrefix, agentId, jobId), key, 'delivered', now, made)
        appendCommand(queueKey, logKey, seqKey, jobId, keepUntil, retention)
        redis.call('SADD', jk.execs, agentId)
        redis.call('PEXPIREAT', jk.execs, jobKeep)
        if state.spec.rollout then
          redis.call('ZADD', jk.rollout, now, agentId)
          redis.call('PEXPIREAT', jk.rollout, jobKeep)
        end
        writeRetally(jk, state, agentId, nil, made, at, jobKeep)
        redis.call('SREM', agentJobsKey, jobId)
        out[#out + 1] = redis.call('HGETALL', key)
      elseif isTarget or state.spec.continuous then
        wait[#wait + 1] = jobId
      end
    end
  end
end
local waitJson = cjson.encode(wait)
if not inGroups then
  return out
elseif fullLook then
  redis.call('HSET', agentMetKey, 'lookSeq', jobSeq, 'wait', waitJson)
  redis.call('PEXPIRE', agentMetKey, metKeepMs)
elseif waitJson ~= met.wait then
  redis.call('HSET', agentMetKey, 'wait', waitJson)
end
return out
