-- plumbing: an execution as an executions listing carries it (lib/jobs/rules.ts listedExecution):
-- its command's hash without the result (COMMAND_LISTED_FIELDS, flat as HGETALL gives it), and,
-- when `status` is one whose item shows the start of the result (failed, rejected, timed_out) and
-- it has one, that start: RESULT_EXCERPT_BYTES bytes cut back to a whole UTF-8 character (the
-- store cuts it to RESULT_EXCERPT_CHARS characters), else ''.
--- @include generated/fields
--- @include generated/constants
--- @include include/hashFields
local function listedCommand(key, status)
  local values = hashFields(key, COMMAND_LISTED_FIELDS)
  local flat = {}
  for _, name in ipairs(COMMAND_LISTED_FIELDS) do
    if values[name] then
      flat[#flat + 1] = name
      flat[#flat + 1] = values[name]
    end
  end
  local excerpt = ''
  if status == 'failed' or status == 'rejected' or status == 'timed_out' then
    local result = redis.call('HGET', key, 'resultJson')
    if result then
      local cut = math.min(#result, RESULT_EXCERPT_BYTES)
      -- A byte 10xxxxxx continues the character before it: the cut goes back to where that one starts.
      while cut > 0 and cut < #result and string.byte(result, cut + 1) >= 128 and string.byte(result, cut + 1) < 192 do cut = cut - 1 end
      excerpt = string.sub(result, 1, cut)
    end
  end
  return flat, excerpt
end
