-- plumbing: an execution's next attempt (nextAttempt: its timeout or its failure retried) written
-- on its hash in place of the attempt before (whose own fields go), kept until its goneAt, told in
-- its history (pending, reason RETRY_REASON) and counted (writeRetally: the phase retrying, its
-- deadline entries dropped).
--- @include generated/constants
--- @include include/ms
--- @include include/history
--- @include include/writeRetally
--- @include rules/goneAt
--- @include rules/jobGoneAt
local function writeRetried(commandKey, historyKey, jk, state, agentId, before, retried, retention)
  redis.call('HDEL', commandKey, 'deliveredAt', 'startedAt', 'deadlineAt', 'statusDetailsJson', 'completedAt', 'resultStatus',
    'resultJson', 'cancelReason', 'signature')
  redis.call('HSET', commandKey, 'attempt', ms(retried.attempt), 'updatedAt', ms(retried.updatedAt))
  redis.call('PEXPIREAT', commandKey, ms(goneAt(retried, retention)))
  appendHistory(historyKey, commandKey, 'pending', ms(retried.updatedAt), retried, nil, RETRY_REASON)
  writeRetally(jk, state, agentId, before, retried, retried.updatedAt, ms(jobGoneAt(state.spec, retention)))
end
