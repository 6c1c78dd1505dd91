-- mirrors: lib/jobs/rules.ts takesJoiner
--- @include rules/isJobEnded
-- Does a continuous job take an agent that joins one of its groups at `at` as a target? Not once
-- it has ended, nor past its schedule's end.
local function takesJoiner(status, spec, at)
  return spec.continuous and not isJobEnded(status) and (spec.schedule == nil or spec.schedule.endAt == nil or at < spec.schedule.endAt)
end
