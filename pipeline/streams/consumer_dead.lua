-- Move one pending entry to the dead stream once: XADD only if this XACK removed it.
-- KEYS and ARGV are named in pipeline/streams/consumer.py (_DEAD_LETTER); A_REST.. are the
-- dead letter's fields (type consumer_dead; shape: Consumer's docstring, README "Dead letters").
-- Streams are never trimmed here: pipeline/streams/retention.py trims behind the consumer groups.
if redis.call('XACK', K.stream, A.group, A.stream_id) == 0 then return false end
local xadd = {'XADD', K.dead, '*'}
for i = A_REST, #ARGV do xadd[#xadd + 1] = ARGV[i] end
return redis.call(unpack(xadd))
