-- plumbing: a command's terminal record written on its hash, as a rule made it (finish, cancel,
-- settledExecution): its result status, its stamps, its result or cancel reason when it has one,
-- and the hash kept until its goneAt. The callers that take it off the queue do that themselves.
--- @include include/ms
--- @include rules/goneAt
local function writeTerminal(commandKey, record, retention)
  redis.call('HSET', commandKey, 'resultStatus', record.resultStatus, 'completedAt', ms(record.completedAt), 'updatedAt',
    ms(record.updatedAt))
  if record.resultJson then redis.call('HSET', commandKey, 'resultJson', record.resultJson) end
  if record.cancelReason then redis.call('HSET', commandKey, 'cancelReason', record.cancelReason) end
  redis.call('PEXPIREAT', commandKey, ms(goneAt(record, retention)))
end
