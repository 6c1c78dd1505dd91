-- mirrors: lib/commands/lifecycle.ts changeAt
-- The instant a change made at `at` is stamped at: never before the record's last written change
-- (its updatedAt, else createdAt). Times are each caller's clock while Redis decides the order, so
-- a report or cancel on a clock behind the one that stamped the last change is stamped at it.
local function changeAt(r, at)
  return math.max(at, r.updatedAt or r.createdAt)
end
