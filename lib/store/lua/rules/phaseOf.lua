-- mirrors: lib/jobs/rules.ts phaseOf
-- The phase a written execution is counted in: retrying (its next attempt made, not yet delivered),
-- delivered, in_progress, or its written end.
local function phaseOf(r)
  if r.resultStatus then return 'ended' end
  if not r.deliveredAt then return 'retrying' end
  if r.startedAt then return 'in_progress' end
  return 'delivered'
end
