-- Mark a feed entry seen (after its task was enqueued) and count the URL as enqueued once,
-- globally and for the feed that enqueued it first. One round trip per new entry.
-- KEYS: 1 feed seen-set, 2 enqueued marker of the entry's URL, 3 global counter,
--       4 feed outcome counts
-- ARGV: 1 entry key, 2 seen value, 3 ttl
-- Returns 1 if the entry was new to the feed, else 0.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[3])) then
  redis.call('INCR', KEYS[3])
  redis.call('HINCRBY', KEYS[4], 'enqueued', 1)
end
return 1
