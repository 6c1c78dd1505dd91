-- mirrors: lib/groups/membership.ts joinOutcome
-- A join of an agent that is (or is not) a member already and is in `groupCount` groups now.
-- `maxGroups`: MAX_GROUPS_PER_AGENT, which the store passes in.
local function joinOutcome(isMember, groupCount, maxGroups)
  if isMember then return 'unchanged' end
  if groupCount >= maxGroups then return 'too_many_groups' end
  return 'added'
end
