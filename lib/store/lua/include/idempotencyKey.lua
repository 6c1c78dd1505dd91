-- plumbing: an Idempotency-Key's hash (fields from generated/fields): read as the entry the rule
-- idempotency takes, { fingerprint, id (what the key made), until } (nil: none), and (re)written
-- for what this request makes, kept until `untilAt`.
--- @include include/hashFields
local function idempotencyEntry(idemKey, fields, idField)
  local f = hashFields(idemKey, fields)
  if not f.fingerprint then return nil end
  return { fingerprint = f.fingerprint, id = f[idField], ['until'] = tonumber(f['until']) }
end
local function keepIdempotency(idemKey, idField, id, fingerprint, untilAt)
  redis.call('DEL', idemKey)
  redis.call('HSET', idemKey, 'fingerprint', fingerprint, idField, id, 'until', untilAt)
  redis.call('PEXPIREAT', idemKey, untilAt)
end
