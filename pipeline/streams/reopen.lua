-- Take a dead-lettered entry back so it can be enqueued again (newsflow dead retry).
-- KEYS and ARGV are named in pipeline/streams/deadletter.py (_REOPEN).
-- Returns the entry message JSON, or false when the id is not a dead letter any more.
local found = redis.call('XRANGE', K.dead, A.stream_id, A.stream_id)
if #found == 0 then return false end
local fields = found[1][2]
local entry = nil
for i = 1, #fields, 2 do
  if fields[i] == 'entry' then entry = fields[i + 1] end
end
local outcome = redis.call('GET', K.entry_outcome)
if not entry or not outcome or outcome_kind(outcome) ~= 'dead' then return false end
redis.call('DEL', K.entry_outcome)
redis.call('HINCRBY', K.counts, 'dead', -1)
redis.call('HINCRBY', K.feed_counts, 'dead', -1)
redis.call('XDEL', K.dead, A.stream_id)
return entry
