-- mirrors: lib/jobs/rules.ts retally
--- @include include/copy
--- @include rules/phaseOf
-- The tally after one written change of an execution at `at`: `before` nil for the one that made
-- it. The caller moves its deadline entry (deadlineEntry) between the phase sets.
local function retally(tally, before, after, at)
  local out = copy(tally)
  local from, to = nil, phaseOf(after)
  if before then from = phaseOf(before) end
  if from == 'retrying' then out.retrying = out.retrying - 1 end
  if to == 'retrying' then out.retrying = out.retrying + 1 end
  if from == 'delivered' then out.delivered = out.delivered - 1 end
  if from == 'in_progress' then out.inProgress = out.inProgress - 1 end
  if to == 'delivered' then out.delivered = out.delivered + 1 end
  if to == 'in_progress' then out.inProgress = out.inProgress + 1 end
  if to == 'ended' and from ~= 'ended' and after.resultStatus then
    out[after.resultStatus] = out[after.resultStatus] + 1
    out.lastEndAt = math.max(tally.lastEndAt or 0, at)
  end
  if not before then out.materialized = tally.materialized + 1 end
  out.updatedAt = math.max(tally.updatedAt, at)
  return out
end
