-- mirrors: lib/jobs/rules.ts targetsOutcome
-- May a job with `counted` targets be created ('create', 'too_many_targets', 'no_targets')?
-- `counted`: the sizes of its groups added up plus its named agents; `maxTargets`:
-- MAX_JOB_TARGETS, which the store passes in.
local function targetsOutcome(counted, continuous, maxTargets)
  if counted > maxTargets then return 'too_many_targets' end
  if counted == 0 and not continuous then return 'no_targets' end
  return 'create'
end
