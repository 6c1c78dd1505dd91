-- plumbing: a job's end alone (JOB_END_FIELDS), for settledExecution; nil: none, or no job.
--- @include generated/fields
--- @include include/hashFields
local function jobEndOf(jobKey)
  local f = hashFields(jobKey, JOB_END_FIELDS)
  if not f.endStatus then return nil end
  return { status = f.endStatus, at = tonumber(f.endAt), reason = f.endReason, force = f.endForce == '1' }
end
