-- plumbing: `retally` written, after one change of the agent's execution at `at` (`before` nil:
-- made now): each counter that moved by HINCRBY, lastEndAt and updatedAt when they moved, and the
-- execution's deadline entry moved to the set of its phase (deadlineEntry), and to the retry set too
-- when its timeout is retried (retriesTimeout), kept until `keepUntil`.
--- @include generated/fields
--- @include include/ms
--- @include rules/retally
--- @include rules/phaseOf
--- @include rules/deadlineEntry
--- @include rules/retriesTimeout
local function writeRetally(jk, state, agentId, before, after, at, keepUntil)
  local tally = state.tally
  local tallied = retally(tally, before, after, at)
  for _, name in ipairs(JOB_COUNTER_FIELDS) do
    if tallied[name] ~= tally[name] then redis.call('HINCRBY', jk.job, name, ms(tallied[name] - tally[name])) end
  end
  if tallied.lastEndAt ~= tally.lastEndAt then redis.call('HSET', jk.job, 'lastEndAt', ms(tallied.lastEndAt)) end
  if tallied.updatedAt ~= tally.updatedAt then redis.call('HSET', jk.job, 'updatedAt', ms(tallied.updatedAt)) end
  redis.call('ZREM', jk.delivered, agentId)
  redis.call('ZREM', jk.inProgress, agentId)
  redis.call('ZREM', jk.retry, agentId)
  local entry, phase = deadlineEntry(after), phaseOf(after)
  if entry and (phase == 'delivered' or phase == 'in_progress') then
    local key = jk.inProgress
    if phase == 'delivered' then key = jk.delivered end
    redis.call('ZADD', key, ms(entry), agentId)
    redis.call('PEXPIREAT', key, keepUntil)
    if retriesTimeout(state.spec, after) then
      redis.call('ZADD', jk.retry, ms(entry), agentId)
      redis.call('PEXPIREAT', jk.retry, keepUntil)
    end
  end
end
