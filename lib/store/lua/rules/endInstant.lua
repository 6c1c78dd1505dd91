-- mirrors: lib/jobs/rules.ts endInstant
-- The instant a job's end is stamped at when a store meets the job at `now`: never before the
-- job's last change (the tally's updatedAt, raised by every delivery and report). Times are each
-- caller's clock while Redis decides the order; the end at the later of the two is at or after
-- every execution's stamps.
local function endInstant(state, now)
  return math.max(now, state.tally.updatedAt)
end
