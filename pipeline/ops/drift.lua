-- Count one observation of a source; at a full window, fold the previous window into the
-- baseline (decayed) and make this window the one to compare.
-- KEYS and ARGV are named in pipeline/ops/drift.py (_OBSERVE); A_REST.. are the fields to count.
-- Returns 1 when a window just closed (the caller compares K.last with K.base), else 0.
for i = A_REST, #ARGV do redis.call('HINCRBY', K.cur, ARGV[i], 1) end
local n = redis.call('HINCRBY', K.cur, 'n', 1)
local ttl = tonumber(A.ttl)
redis.call('EXPIRE', K.cur, ttl)
if n < tonumber(A.window) then return 0 end
local decay = tonumber(A.decay)
local base = redis.call('HGETALL', K.base)
for i = 1, #base, 2 do
  redis.call('HSET', K.base, base[i], tostring(tonumber(base[i + 1]) * decay))
end
local last = redis.call('HGETALL', K.last)
for i = 1, #last, 2 do redis.call('HINCRBYFLOAT', K.base, last[i], last[i + 1]) end
redis.call('RENAME', K.cur, K.last)
redis.call('EXPIRE', K.base, ttl)
redis.call('EXPIRE', K.last, ttl)
return 1
