-- Take up to A.limit due feeds from the poll schedule for one poller: each one's score moves
-- to A.claim_end (the end of the claim), so that no other poller takes it before then; a poll
-- sets the feed's real next time when it ends, and a feed whose poller died is due again
-- at A.claim_end. KEYS and ARGV are named in pipeline/polling/claim.py (_CLAIM).
-- Returns the URLs taken, earliest due first.
local due = redis.call('ZRANGEBYSCORE', K.schedule, '-inf', A.now, 'LIMIT', 0, tonumber(A.limit))
for _, url in ipairs(due) do
  redis.call('ZADD', K.schedule, 'XX', A.claim_end, url)
end
return due
