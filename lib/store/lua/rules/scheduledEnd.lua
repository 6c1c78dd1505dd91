-- mirrors: lib/jobs/rules.ts scheduledEnd
--- @include generated/constants
--- @include rules/scheduledEndDue
--- @include rules/shouldAbort
--- @include rules/cancelJob
-- The end a schedule's cancel or force_cancel writes when a store first meets the job at or after
-- its endAt (`counts` read at endAt): the job's cancel at endAt, reason schedule_ended, with force
-- for force_cancel. nil: nothing to write.
local function scheduledEnd(state, counts, at)
  if not scheduledEndDue(state, at) or shouldAbort(state.spec.abort, counts) then return nil end
  local schedule = state.spec.schedule
  local decided = cancelJob(state, counts, { reason = SCHEDULE_END_REASON, force = schedule.endBehavior == 'force_cancel',
    at = schedule.endAt })
  if decided.outcome ~= 'accepted' then return nil end
  return decided.state['end']
end
