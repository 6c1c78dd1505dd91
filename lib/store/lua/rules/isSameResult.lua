-- mirrors: lib/commands/lifecycle.ts isSameResult
-- The same result again (an agent retrying): same status and the same bytes, or both without a body.
-- `submission`: { status, resultJson (nil: no body), completedAt }.
local function isSameResult(r, submission)
  return r.resultStatus == submission.status and r.resultJson == submission.resultJson
end
