-- plumbing: an operator's change of one job (job-cancel, job-pause) meets the job first: nil when
-- it is gone at `now` (jobGoneAt after `retentionMs`); else its keys, the instant the change is
-- stamped at (endInstant: `now`, or the job's last change when a faster clock made it later), and
-- the job read at that instant (jobAt: abortAt written first).
--- @include include/jobState
--- @include include/jobAt
--- @include rules/jobGoneAt
--- @include rules/endInstant
local function jobMet(jobKey, jobDeliveredKey, jobInProgressKey, jobRetryKey, now, retentionMs)
  local expiry = redis.call('HGET', jobKey, 'expiresAt')
  if not expiry or jobGoneAt({ expiresAt = tonumber(expiry) }, retentionMs) <= now then return nil end
  local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey, retry = jobRetryKey }
  local when = endInstant(jobState(jobKey), now)
  local state, timedOut, counts = jobAt(jk, when)
  return { jk = jk, when = when, state = state, timedOut = timedOut, counts = counts }
end
