-- Mark a poll's new feed entries seen (after their tasks were enqueued) and count each URL
-- as enqueued once, globally and for the feed that enqueued it first. One round trip per poll.
-- KEYS and ARGV are named in pipeline/polling/poll.py (_ENQUEUED); K_REST.. are the enqueued
-- markers of the entries' URLs, A_REST.. per entry (in that order): entry key, seen value.
-- Returns {how many of the entries were new to the feed, how many of those were enqueued for
-- the first time} (a URL enqueued before, by this feed or another, is new to a feed whose
-- seen-set forgot it or keys it by another guid, but not a first).
local ttl = tonumber(A.ttl)
local new, first = 0, 0
for i = K_REST, #KEYS do
  local arg = A_REST + (i - K_REST) * 2
  if redis.call('HSETNX', K.seen, ARGV[arg], ARGV[arg + 1]) == 1 then
    new = new + 1
    if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
      first = first + 1
      redis.call('INCR', K.enqueued)
      redis.call('HINCRBY', K.feed_counts, 'enqueued', 1)
    end
  end
end
return {new, first}
