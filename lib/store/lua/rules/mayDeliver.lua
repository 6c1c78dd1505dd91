-- mirrors: lib/jobs/rules.ts mayDeliver
--- @include rules/rolloutAllows
-- May the poll at `at` make this agent's execution? The job is in progress (after abortAt), not
-- expired, the agent is a target without one, and the rollout allows another. `spec`: { expiresAt,
-- rollout = nil or { maxPerMinute } }; `target`: { isTarget, hasExecution }.
local function mayDeliver(status, spec, at, target, deliveredSinceWindowStart)
  local maxPerMinute = nil
  if spec.rollout then maxPerMinute = spec.rollout.maxPerMinute end
  return status == 'in_progress' and at < spec.expiresAt and target.isTarget and not target.hasExecution
    and rolloutAllows(maxPerMinute, deliveredSinceWindowStart)
end
