#!lua flags=allow-key-locking
local agentGroupsKey = KEYS[1]
-- The groups an agent is in (lib/store/scripts.ts AGENT_GROUPS), in the set's order. Storage
-- only: groupsOf of the in-memory store; sorted by sortedGroups (lib/groups/membership.ts) after.
return redis.call('SMEMBERS', agentGroupsKey)
