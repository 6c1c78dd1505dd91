-- mirrors: lib/jobs/rules.ts retryCutoff
-- The instant from which nothing is retried: the job's written end, its schedule's stop_rollout
-- end, its expiry, whichever comes first.
local function retryCutoff(state)
  local spec = state.spec
  local cutoff = spec.expiresAt
  if state['end'] then cutoff = math.min(cutoff, state['end'].at) end
  local schedule = spec.schedule
  if schedule and schedule.endAt and schedule.endBehavior == 'stop_rollout' then cutoff = math.min(cutoff, schedule.endAt) end
  return cutoff
end
