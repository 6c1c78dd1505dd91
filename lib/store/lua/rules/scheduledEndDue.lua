-- mirrors: lib/jobs/rules.ts scheduledEndDue
-- Is the schedule's cancel or force_cancel end due at `at` and not yet written?
local function scheduledEndDue(state, at)
  local schedule = state.spec.schedule
  return state['end'] == nil and schedule ~= nil and schedule.endAt ~= nil and schedule.endBehavior ~= 'stop_rollout'
    and at >= schedule.endAt
end
