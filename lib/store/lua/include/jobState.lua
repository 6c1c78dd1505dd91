-- plumbing: a job as the job rules read it (JOB_STATE_FIELDS): the parts of its JobState they
-- look at, times and counters as numbers; nil: no job.
--- @include generated/fields
--- @include include/hashFields
local function jobState(jobKey)
  local f = hashFields(jobKey, JOB_STATE_FIELDS)
  if not f.expiresAt then return nil end
  local spec = { expiresAt = tonumber(f.expiresAt), continuous = f.continuous == '1' }
  if f.abortCriteria then
    spec.abort = { criteria = cjson.decode(f.abortCriteria) }
  elseif f.abortPercent then
    spec.abort = { criteria = { { failureType = 'all', thresholdPercent = tonumber(f.abortPercent), minExecuted = tonumber(f.abortMin) } } }
  end
  if f.rolloutMax or f.rolloutBase then spec.rollout = { maxPerMinute = tonumber(f.rolloutMax) } end
  if f.rolloutBase then
    spec.rollout.exponential = { basePerMinute = tonumber(f.rolloutBase), incrementFactorTenths = tonumber(f.rolloutFactor),
      increaseAfter = { kind = f.rolloutAfter, count = tonumber(f.rolloutAfterCount) } }
  end
  if f.retryCriteria then spec.retry = { criteria = cjson.decode(f.retryCriteria) } end
  if f.scheduleStart then
    spec.schedule = { startAt = tonumber(f.scheduleStart), endAt = tonumber(f.scheduleEnd), endBehavior = f.scheduleEndBehavior }
  end
  local tally = { targets = tonumber(f.targets), materialized = tonumber(f.materialized), delivered = tonumber(f.delivered),
    inProgress = tonumber(f.inProgress), completed = tonumber(f.completed), failed = tonumber(f.failed), rejected = tonumber(f.rejected),
    canceled = tonumber(f.canceled), retrying = tonumber(f.retrying) or 0, lastEndAt = tonumber(f.lastEndAt), updatedAt = tonumber(f.updatedAt) }
  local state = { spec = spec, tally = tally }
  if f.pauseState then state.pause = { paused = f.pauseState == '1', at = tonumber(f.pauseAt), reason = f.pauseReason } end
  if f.endStatus then
    state['end'] = { status = f.endStatus, at = tonumber(f.endAt), reason = f.endReason, force = f.endForce == '1',
      undelivered = tonumber(f.endUndelivered) }
    if f.endFinal then state['end'].final = cjson.decode(f.endFinal) end
  end
  return state
end
