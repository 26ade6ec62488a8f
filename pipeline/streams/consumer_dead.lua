-- Move one pending entry to the dead stream once: XADD only if this XACK removed it.
-- KEYS: 1 source stream, 2 dead stream. ARGV: 1 group, 2 stream id, 3.. fields
-- Streams are never trimmed here: pipeline/retention.py trims behind the consumer groups.
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return false end
local xadd = {'XADD', KEYS[2], '*'}
for i = 3, #ARGV do xadd[#xadd + 1] = ARGV[i] end
return redis.call(unpack(xadd))
