-- plumbing: where a command goes at the end of its agent's queue and log: the next sequence from
-- the agent's counter (one already in the log keeps its own), both sets kept until `keepUntil` at
-- the latest, the counter a retention period longer (so that it outlives the log: while a log
-- exists its counter does, and a list cursor taken from the log stays good that long after the
-- log's last command is gone). Shared by ENQUEUE and by FETCH when it makes an execution.
--- @include include/ms
--- @include include/keepAtLeast
local function appendCommand(queueKey, logKey, seqKey, commandId, keepUntil, retention)
  local seq = redis.call('ZSCORE', logKey, commandId)
  if not seq then
    seq = redis.call('INCR', seqKey)
    -- A queue written before the counter existed: carry on after its last sequence.
    local last = redis.call('ZRANGE', queueKey, -1, -1, 'WITHSCORES')
    if last[2] and tonumber(last[2]) >= seq then
      seq = tonumber(last[2]) + 1
      redis.call('SET', seqKey, ms(seq))
    end
    seq = ms(seq)
  end
  redis.call('ZADD', queueKey, seq, commandId)
  redis.call('ZADD', logKey, seq, commandId)
  local counterUntil = ms(tonumber(keepUntil) + retention)
  keepAtLeast(queueKey, keepUntil)
  keepAtLeast(logKey, keepUntil)
  keepAtLeast(seqKey, counterUntil)
end
