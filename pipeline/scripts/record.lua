-- Record a terminal non-published outcome (dropped, dead) exactly once per entry.
-- KEYS: 1 entry outcome key, 2 target stream, 3 outcome counts, 4 feed outcome counts
-- ARGV: 1 ttl, 2 maxlen, 3 outcome kind, 4 outcome value, 5.. stream fields (name, value, ...)
-- Returns {'recorded', stream id} or {'already', outcome}
local done = redis.call('GET', KEYS[1])
if done then return {'already', done} end
local xadd = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*'}
for i = 5, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local sid = redis.call(unpack(xadd))
redis.call('SET', KEYS[1], ARGV[4], 'EX', tonumber(ARGV[1]))
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
return {'recorded', sid}
