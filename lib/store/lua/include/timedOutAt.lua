-- plumbing: the TimedOutTally (lib/jobs/model.ts) at `at`: executions by phase whose deadline is
-- at or before `at` (ZCOUNT of the job's two deadline sets), and the latest such deadline.
--- @include include/ms
local function timedOutAt(jk, at)
  local lastAt = nil
  for _, key in ipairs({ jk.delivered, jk.inProgress }) do
    local top = redis.call('ZREVRANGEBYSCORE', key, ms(at), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if top[2] and (not lastAt or tonumber(top[2]) > lastAt) then lastAt = tonumber(top[2]) end
  end
  return { delivered = redis.call('ZCOUNT', jk.delivered, '-inf', ms(at)), inProgress = redis.call('ZCOUNT', jk.inProgress, '-inf', ms(at)),
    lastAt = lastAt }
end
