-- mirrors: lib/jobs/rules.ts cancelJob
--- @include include/copy
--- @include rules/jobStatusAt
--- @include rules/isJobEnded
--- @include rules/ended
--- @include rules/endInstant
-- An operator's cancel, made at endInstant(state, cancellation.at) (never before the job's last
-- change; the store reads `counts` at that instant, after abortAt): refused once the job has ended
-- (a paused job may be canceled);
-- otherwise every undelivered target is canceled, and with force every delivered and in-progress
-- execution too (the counts frozen from then on). `cancellation`: { at, force, reason (nil: none) }.
-- Answers { outcome = 'accepted' | 'refused', state }.
local function cancelJob(state, counts, cancellation)
  local when = endInstant(state, cancellation.at)
  if isJobEnded(jobStatusAt(state, counts, when)) then return { outcome = 'refused', state = state } end
  local jobEnd = { status = 'canceled', at = when, reason = cancellation.reason, force = cancellation.force, undelivered = counts.pending }
  if cancellation.force then
    local final = copy(counts)
    final.pending, final.delivered, final.in_progress = 0, 0, 0
    final.canceled = counts.canceled + counts.pending + counts.delivered + counts.in_progress
    jobEnd.final = final
  end
  return { outcome = 'accepted', state = ended(state, jobEnd) }
end
