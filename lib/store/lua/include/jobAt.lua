-- plumbing: the job met at `at`: its state, timed-out tally and counts, with the end its
-- schedule reached (scheduledEnd, read at the schedule's endAt) and then abortAt written first
-- when reached (so nothing is delivered or counted past the threshold). nil: no job.
-- `jk`: the job's keys ({ job, delivered, inProgress }, jobKeysOf).
--- @include include/jobState
--- @include include/timedOutAt
--- @include include/writeEnded
--- @include rules/countsAt
--- @include rules/abortAt
--- @include rules/ended
--- @include rules/scheduledEndDue
--- @include rules/scheduledEnd
local function jobAt(jk, at)
  local state = jobState(jk.job)
  if not state then return nil end
  if scheduledEndDue(state, at) then
    -- Read at the schedule's end (its timeouts then), as if met at that very instant.
    local endAt = state.spec.schedule.endAt
    local jobEnd = scheduledEnd(state, countsAt(state, timedOutAt(jk, endAt, state), endAt), at)
    if jobEnd then
      local canceled = ended(state, jobEnd)
      writeEnded(jk.job, state, canceled)
      state = canceled
    end
  end
  local timedOut = timedOutAt(jk, at, state)
  local counts = countsAt(state, timedOut, at)
  local jobEnd = abortAt(state, counts, at)
  if jobEnd then
    local aborted = ended(state, jobEnd)
    writeEnded(jk.job, state, aborted)
    state = aborted
    counts = countsAt(state, timedOut, at)
  end
  return state, timedOut, counts
end
