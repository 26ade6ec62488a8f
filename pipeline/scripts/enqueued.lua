-- Count an entry as enqueued once, globally and for the feed that enqueued it first.
-- KEYS: 1 enqueued marker of the entry, 2 global counter, 3 feed outcome counts
-- ARGV: 1 ttl
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  redis.call('INCR', KEYS[2])
  redis.call('HINCRBY', KEYS[3], 'enqueued', 1)
  return 1
end
return 0
