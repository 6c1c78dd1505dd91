-- mirrors: lib/jobs/rules.ts mayDeliver
--- @include rules/rolloutAllows
-- May the poll at `at` make this agent's execution? The job is in progress (after abortAt; not
-- scheduled, not paused), not expired, not past its schedule's end, the agent is a target without
-- one, and the rollout allows another at its rate now (`perMinute`, rolloutRate; nil: no rollout).
-- `spec`: { expiresAt, schedule = nil or { endAt } }; `target`: { isTarget, hasExecution }.
local function mayDeliver(status, spec, at, target, deliveredSinceWindowStart, perMinute)
  local beforeEnd = spec.schedule == nil or spec.schedule.endAt == nil or at < spec.schedule.endAt
  return status == 'in_progress' and at < spec.expiresAt and beforeEnd and target.isTarget and not target.hasExecution
    and rolloutAllows(perMinute, deliveredSinceWindowStart)
end
