-- mirrors: lib/jobs/rules.ts isJobEnded
-- A status that never changes again: completed, canceled, aborted.
local function isJobEnded(status)
  return status == 'completed' or status == 'canceled' or status == 'aborted'
end
