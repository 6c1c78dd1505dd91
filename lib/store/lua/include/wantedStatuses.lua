-- plumbing: the statuses a listing asks for (comma-separated, '' for all) as a set; nil: all.
local function wantedStatuses(list)
  if list == '' then return nil end
  local wanted = {}
  for name in string.gmatch(list, '[^,]+') do wanted[name] = true end
  return wanted
end
