-- mirrors: lib/groups/membership.ts leaveOutcome
-- A leave of an agent that is (or is not) a member.
local function leaveOutcome(isMember)
  if isMember then return 'removed' end
  return 'unchanged'
end
