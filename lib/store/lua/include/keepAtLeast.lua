-- plumbing: a key kept at least until `untilAt` (epoch ms): its expiry set when it has none, else only ever moved later.
local function keepAtLeast(key, untilAt)
  if redis.call('PEXPIREAT', key, untilAt, 'NX') == 0 then redis.call('PEXPIREAT', key, untilAt, 'GT') end
end
