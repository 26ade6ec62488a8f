-- Record a terminal non-published outcome (dropped, dead) exactly once per entry.
-- KEYS and ARGV are named in pipeline/publish.py (_RECORD); A_REST.. are the stream fields.
-- Returns {'recorded', stream id} or {'already', outcome}
local done = redis.call('GET', K.entry_outcome)
if done then return {'already', done} end
local xadd = {'XADD', K.stream, '*'}
for i = A_REST, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local sid = redis.call(unpack(xadd))
redis.call('SET', K.entry_outcome, outcome_value(A.kind, A.reason), 'EX', tonumber(A.ttl))
redis.call('HINCRBY', K.counts, A.kind, 1)
redis.call('HINCRBY', K.feed_counts, A.kind, 1)
redis.call('ZREM', K.sent, A.entry_id)  -- ended: out of the sent-entries ledger
redis.call('HDEL', K.sent_messages, A.entry_id)
return {'recorded', sid}
