-- mirrors: lib/jobs/rules.ts nextAttempt
-- The execution's next attempt, made at `at`: pending again for the same agent (its command, args,
-- expiry and timeout; its deliveries counted on), nothing of the attempt before kept.
local function nextAttempt(r, at)
  return { commandId = r.commandId, agentId = r.agentId, command = r.command, args = r.args, createdAt = r.createdAt,
    expiresAt = r.expiresAt, timeoutMs = r.timeoutMs, jobId = r.jobId, deliveryCount = r.deliveryCount,
    attempt = (r.attempt or 1) + 1, updatedAt = at }
end
