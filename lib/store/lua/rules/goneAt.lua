-- mirrors: lib/commands/lifecycle.ts goneAt
--- @include rules/timeEnd
-- When the record is gone: retention counts from completedAt once written, else from the end by time.
local function goneAt(r, retention)
  if r.completedAt then return r.completedAt + retention end
  return timeEnd(r).at + retention
end
