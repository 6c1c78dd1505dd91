-- mirrors: lib/jobs/rules.ts rolloutStopped
-- The schedule's end has come at `at` with stop_rollout, before the job's expiry. `spec`:
-- { expiresAt, schedule = nil or { startAt, endAt (nil: none), endBehavior } }.
local function rolloutStopped(spec, at)
  local schedule = spec.schedule
  return schedule ~= nil and schedule.endBehavior == 'stop_rollout' and schedule.endAt ~= nil and at >= schedule.endAt
    and schedule.endAt < spec.expiresAt
end
