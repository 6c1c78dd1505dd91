-- plumbing: `ended` written: the end of the state after (its JobEnd) on the job's hash, and its
-- tally's updatedAt when it moved.
--- @include include/ms
--- @include include/countsJson
local function writeEnded(jobKey, before, after)
  local jobEnd = after['end']
  redis.call('HSET', jobKey, 'endStatus', jobEnd.status, 'endAt', ms(jobEnd.at), 'endForce', jobEnd.force and '1' or '0', 'endUndelivered',
    ms(jobEnd.undelivered))
  if jobEnd.reason then redis.call('HSET', jobKey, 'endReason', jobEnd.reason) end
  if jobEnd.final then redis.call('HSET', jobKey, 'endFinal', countsJson(jobEnd.final)) end
  if after.tally.updatedAt ~= before.tally.updatedAt then redis.call('HSET', jobKey, 'updatedAt', ms(after.tally.updatedAt)) end
end
