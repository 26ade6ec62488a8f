-- Mark a poll's new feed entries seen (after their tasks were enqueued) and count each URL
-- as enqueued once, globally and for the feed that enqueued it first. One round trip per poll.
-- KEYS and ARGV are named in pipeline/polling/poll.py (_ENQUEUED); K_REST.. are the enqueued
-- markers of the entries' URLs, A_REST.. per entry (in that order): entry key, seen value,
-- the URL's own field in the seen-set.
-- Returns {how many of the entries were new to the feed, how many of their URLs were new to
-- it} (an entry whose guid changed, or that the seen-set forgot, is new; its URL is not).
local ttl = tonumber(A.ttl)
local new, first = 0, 0
for i = K_REST, #KEYS do
  local arg = A_REST + (i - K_REST) * 3
  if redis.call('HSETNX', K.seen, ARGV[arg], ARGV[arg + 1]) == 1 then
    new = new + 1
    if redis.call('HSETNX', K.seen, ARGV[arg + 2], ARGV[arg + 1]) == 1 then
      first = first + 1
    end
    if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
      redis.call('INCR', K.enqueued)
      redis.call('HINCRBY', K.feed_counts, 'enqueued', 1)
    end
  end
end
return {new, first}
