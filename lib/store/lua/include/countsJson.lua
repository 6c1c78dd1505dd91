-- plumbing: JobCounts as the JSON kept in endFinal, by command status in COMMAND_STATUSES order.
--- @include generated/constants
--- @include include/ms
local function countsJson(counts)
  local parts = {}
  for i, name in ipairs(COMMAND_STATUSES) do parts[i] = '"' .. name .. '":' .. ms(counts[name]) end
  return '{' .. table.concat(parts, ',') .. '}'
end
