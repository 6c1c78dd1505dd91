-- mirrors: lib/jobs/rules.ts pauseJob
--- @include include/copy
--- @include rules/jobStatusAt
--- @include rules/isJobEnded
--- @include rules/endInstant
-- An operator's pause or resume at endInstant(state, change.at) (the store reads `counts` at that
-- instant, after abortAt): refused once the job has ended; unchanged when it is so already;
-- otherwise the pause written ({ paused, at, reason }), the change stamped. `change`: { paused,
-- reason (nil: none), at }. Answers { outcome = 'accepted' | 'unchanged' | 'refused', state }.
local function pauseJob(state, counts, change)
  local when = endInstant(state, change.at)
  local status = jobStatusAt(state, counts, when)
  if isJobEnded(status) then return { outcome = 'refused', state = state } end
  if (status == 'paused') == change.paused then return { outcome = 'unchanged', state = state } end
  local out = copy(state)
  out.pause = { paused = change.paused, at = when, reason = change.reason }
  out.tally = copy(state.tally)
  out.tally.updatedAt = math.max(state.tally.updatedAt, when)
  return { outcome = 'accepted', state = out }
end
