-- plumbing: the named fields of a hash in one HMGET (a list from generated/fields), as a table by name; a field not set is nil.
local function hashFields(key, names)
  local values = redis.call('HMGET', key, unpack(names))
  local out = {}
  for i, name in ipairs(names) do
    if values[i] then out[name] = values[i] end
  end
  return out
end
