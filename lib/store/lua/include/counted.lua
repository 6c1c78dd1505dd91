-- plumbing: an accepted change of a job's execution at `at`, counted on the job (writeRetally,
-- its keys kept until jobGoneAt), which may abort it (jobAt). No job: nothing.
--- @include include/ms
--- @include include/writeRetally
--- @include include/jobAt
--- @include rules/jobGoneAt
local function counted(jk, state, agentId, before, after, at, retention)
  if not state then return end
  writeRetally(jk, state, agentId, before, after, at, ms(jobGoneAt(state.spec, retention)))
  jobAt(jk, at)
end
