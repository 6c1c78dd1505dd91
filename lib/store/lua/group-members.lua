#!lua flags=allow-key-locking
local groupKey = KEYS[1]
local after = ARGV[1]
local count = ARGV[2]
-- A page of a group's members (lib/store/scripts.ts GROUP_MEMBERS): up to `count` (a page and one
-- more) after join position `after`, flat with their positions. Storage only: members of the
-- in-memory store; the page is cut by memberPage (lib/groups/membership.ts).
return redis.call('ZRANGE', groupKey, '(' .. after, '+inf', 'BYSCORE', 'LIMIT', 0, count, 'WITHSCORES')
