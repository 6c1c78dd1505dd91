-- plumbing: what the store hands back for a job: its hash and the timed-out tally (the store
-- takes jobSnapshot from them): { hash, delivered, inProgress, lastAt or '', retried }.
--- @include include/ms
local function jobAnswer(jk, timedOut)
  local lastAt = ''
  if timedOut.lastAt then lastAt = ms(timedOut.lastAt) end
  return { redis.call('HGETALL', jk.job), timedOut.delivered, timedOut.inProgress, lastAt, timedOut.retried }
end
