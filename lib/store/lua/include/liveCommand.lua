-- plumbing: the agent's command at `at`, not gone (isGone); a gone one is dropped on the way (its
-- hash and its queue entry). nil: not_found.
--- @include include/ruleFields
--- @include rules/isGone
local function liveCommand(commandKey, queueKey, commandId, agentId, at, retention)
  if redis.call('HGET', commandKey, 'agentId') ~= agentId then return nil end
  local r = ruleFields(commandKey)
  if not r.expiresAt then return nil end
  if isGone(r, at, retention) then
    redis.call('DEL', commandKey)
    redis.call('ZREM', queueKey, commandId)
    return nil
  end
  return r
end
