local keyPrefix = ARGV[1]
local targets = ARGV[2]
local continuous = ARGV[3]
local maxTargets = ARGV[4]
local exactTargets = ARGV[5]
--- @include include/keys
--- @include rules/targetsOutcome
-- A create's dry run (lib/store/scripts.ts JOB_DRY_RUN): what a create of `targets` (the JSON
-- {agents, groups}) would meet now, written nowhere. Mirrors targetsOutcome (lib/jobs/rules.ts):
-- the groups' sizes (ZCARD, in the order named) and the named agents added up, refused as
-- JOB_CREATE refuses them ({ 'too_many_targets' | 'no_targets', counted }). Otherwise, when the
-- count is at most `exactTargets` (DRY_RUN_EXACT_TARGETS), the agents are told apart (each group
-- read whole: at most that many members), else the distinct count is '' (unknown). Answers
-- { 'ok', counted, distinct or '', { each group's size } }.
local named = cjson.decode(targets)
local counted, members = #named.agents, {}
for i, group in ipairs(named.groups) do
  members[i] = redis.call('ZCARD', groupKeyOf(keyPrefix, group))
  counted = counted + members[i]
end
local verdict = targetsOutcome(counted, continuous == '1', tonumber(maxTargets))
if verdict ~= 'create' then return { verdict, counted } end
local distinct = ''
if counted <= tonumber(exactTargets) then
  local seen, n = {}, 0
  local function add(agent)
    if not seen[agent] then
      seen[agent] = true
      n = n + 1
    end
  end
  for _, agent in ipairs(named.agents) do add(agent) end
  for _, group in ipairs(named.groups) do
    for _, agent in ipairs(redis.call('ZRANGE', groupKeyOf(keyPrefix, group), 0, -1)) do add(agent) end
  end
  distinct = n
end
return { 'ok', counted, distinct, members }
