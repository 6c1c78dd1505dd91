-- mirrors: lib/commands/lifecycle.ts staleAttempt
-- Does a report miss the command's current attempt? It names another one (`attempt`), or the
-- current one is a job's execution retried and not delivered since.
local function staleAttempt(r, report)
  if report.attempt ~= nil and report.attempt ~= (r.attempt or 1) then return true end
  return r.jobId ~= nil and r.deliveredAt == nil and r.resultStatus == nil
end
