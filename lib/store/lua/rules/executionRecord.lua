-- mirrors: lib/jobs/rules.ts executionRecord
--- @include rules/delivered
-- The execution as made at `at`: the job's command for the agent, delivered at once. `spec`:
-- { jobId, command, args (its JSON text), createdAt, expiresAt, timeoutMs (nil: none) }.
local function executionRecord(spec, agentId, at)
  local made = { commandId = spec.jobId, agentId = agentId, command = spec.command, args = spec.args, createdAt = spec.createdAt,
    expiresAt = spec.expiresAt, timeoutMs = spec.timeoutMs, jobId = spec.jobId }
  return delivered(made, at)
end
