-- Record a terminal non-published outcome (dropped, dead) exactly once per entry.
-- KEYS: 1 entry outcome key, 2 target stream, 3 outcome counts, 4 feed outcome counts
-- ARGV: 1 ttl, 2 outcome kind, 3 outcome value, 4.. stream fields (name, value, ...)
-- Returns {'recorded', stream id} or {'already', outcome}
local done = redis.call('GET', KEYS[1])
if done then return {'already', done} end
local xadd = {'XADD', KEYS[2], '*'}
for i = 4, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local sid = redis.call(unpack(xadd))
redis.call('SET', KEYS[1], ARGV[3], 'EX', tonumber(ARGV[1]))
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
return {'recorded', sid}
