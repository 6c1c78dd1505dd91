-- plumbing: the agent's command at `at` (liveCommand; nil: not_found) and, for a job's execution
-- (its jobId is its commandId; `jk` the declared keys of that job), its job met first (jobAt:
-- abortAt written), its retry met (retryMet: a timeout retried written as its next attempt, one
-- waiting for its retry that the job's end caught canceled), and the execution settled by a
-- forced cancel (writeSettled, its queue entry dropped). Answers the record, the job's keys and its state (both nil for a plain command; the
-- state nil for a job gone).
--- @include include/liveCommand
--- @include include/jobAt
--- @include include/writeSettled
--- @include include/retryMet
local function metExecution(commandKey, queueKey, historyKey, commandId, agentId, jk, at, retention)
  local r = liveCommand(commandKey, queueKey, commandId, agentId, at, retention)
  if not r then return nil end
  if r.jobId ~= commandId then return r, nil, nil end
  local state = jobAt(jk, at)
  if state then
    local moved
    r, moved = retryMet(commandKey, historyKey, agentId, r, jk, at, retention)
    if moved then state = jobAt(jk, at) end
    local settled
    r, settled = writeSettled(commandKey, r, state['end'], retention)
    if settled then redis.call('ZREM', queueKey, commandId) end
  end
  return r, jk, state
end
