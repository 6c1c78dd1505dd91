-- mirrors: lib/jobs/rules.ts deadlineEntry
-- The deadline a record is kept under in its phase's sorted set: only one that comes before the
-- job's expiry (a tie is expired); nil: none.
local function deadlineEntry(r)
  if r.resultStatus or not r.deadlineAt then return nil end
  if r.deadlineAt < r.expiresAt then return r.deadlineAt end
  return nil
end
