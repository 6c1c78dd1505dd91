-- plumbing: the TimedOutTally (lib/jobs/model.ts) at `at` of the job in `state`: executions by
-- phase whose deadline is at or before `at` (ZCOUNT of the job's two deadline sets), the latest
-- such deadline, and of those the ones retried (ZCOUNT of its retry set, up to retryCutoff).
--- @include include/ms
--- @include rules/retryCutoff
local function timedOutAt(jk, at, state)
  local lastAt = nil
  for _, key in ipairs({ jk.delivered, jk.inProgress }) do
    local top = redis.call('ZREVRANGEBYSCORE', key, ms(at), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if top[2] and (not lastAt or tonumber(top[2]) > lastAt) then lastAt = tonumber(top[2]) end
  end
  local upTo = ms(math.min(at, retryCutoff(state)))
  return { delivered = redis.call('ZCOUNT', jk.delivered, '-inf', ms(at)), inProgress = redis.call('ZCOUNT', jk.inProgress, '-inf', ms(at)),
    retried = redis.call('ZCOUNT', jk.retry, '-inf', upTo), lastAt = lastAt }
end
