-- plumbing: a shallow copy of a table, for the rules that answer a changed record and leave the one given as it was.
local function copy(value)
  local out = {}
  for name, field in pairs(value) do out[name] = field end
  return out
end
