-- plumbing: a command's record as the lifecycle rules read it (COMMAND_RULE_FIELDS), times as
-- numbers, a field not set nil; a hash that does not exist reads without expiresAt.
--- @include generated/fields
--- @include include/hashFields
local function ruleFields(key)
  local f = hashFields(key, COMMAND_RULE_FIELDS)
  return { expiresAt = tonumber(f.expiresAt), deadlineAt = tonumber(f.deadlineAt), completedAt = tonumber(f.completedAt),
    resultStatus = f.resultStatus, startedAt = tonumber(f.startedAt), deliveredAt = tonumber(f.deliveredAt),
    timeoutMs = tonumber(f.timeoutMs), jobId = f.jobId, createdAt = tonumber(f.createdAt), updatedAt = tonumber(f.updatedAt),
    attempt = tonumber(f.attempt) }
end
