-- plumbing: the keys of lib/store/keys.ts that a script builds itself, for the commands, jobs,
-- groups and agents it learns while running: keyPart as there, from the prefix `<p>` the caller passes.
local function keyPart(id) return (string.gsub(id, '[%%:]', { ['%'] = '%25', [':'] = '%3A' })) end
local function jobKeysOf(prefix, jobId)
  local part = keyPart(jobId)
  return { job = prefix .. 'job:' .. part, targets = prefix .. 'job-targets:' .. part, execs = prefix .. 'job-execs:' .. part,
    rollout = prefix .. 'job-rollout:' .. part, delivered = prefix .. 'job-deadlines:' .. part .. ':delivered',
    inProgress = prefix .. 'job-deadlines:' .. part .. ':in_progress', retry = prefix .. 'job-deadlines:' .. part .. ':retry' }
end
local function commandKeyOf(prefix, agentId, commandId) return prefix .. 'cmd:' .. keyPart(agentId) .. ':' .. commandId end
local function queueKeyOf(prefix, agentId) return prefix .. 'queue:' .. keyPart(agentId) end
local function groupKeyOf(prefix, group) return prefix .. 'group:' .. keyPart(group) end
local function groupJobsKeyOf(prefix, group) return prefix .. 'group-jobs:' .. keyPart(group) end
local function agentJobsKeyOf(prefix, agentId) return prefix .. 'agent-jobs:' .. keyPart(agentId) end
local function agentGroupsKeyOf(prefix, agentId) return prefix .. 'agent-groups:' .. keyPart(agentId) end
local function agentMetKeyOf(prefix, agentId) return prefix .. 'agent-met:' .. keyPart(agentId) end
