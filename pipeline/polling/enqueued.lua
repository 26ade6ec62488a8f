-- Mark a poll's new feed entries seen (after their tasks were enqueued) and count each URL
-- as enqueued once, globally and for the feed that enqueued it first. One round trip per poll.
-- KEYS: 1 feed seen-set, 2 global counter, 3 feed outcome counts,
--       4.. enqueued marker of each entry's URL
-- ARGV: 1 ttl, then per entry (in KEYS order): entry key, seen value
-- Returns how many of the entries were new to the feed.
local ttl = tonumber(ARGV[1])
local new = 0
for i = 4, #KEYS do
  local arg = 2 + (i - 4) * 2
  if redis.call('HSETNX', KEYS[1], ARGV[arg], ARGV[arg + 1]) == 1 then
    new = new + 1
    if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
      redis.call('INCR', KEYS[2])
      redis.call('HINCRBY', KEYS[3], 'enqueued', 1)
    end
  end
end
return new
