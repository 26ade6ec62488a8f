-- Take a request slot for one host, shared by every worker: cooldown, concurrency, rate.
-- KEYS (named in pipeline/fetch/politeness.py): schedule, the next start (GCRA); slots, the
-- requests in flight (zset by lease expiry); cooldown. ARGV: interval_ms between requests,
-- burst, max_concurrent, lease_ms, token.
-- Returns 0 when the slot is taken, else how many ms to wait before asking again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cool = tonumber(redis.call('GET', K.cooldown) or '0')
if cool > now then return cool - now end
redis.call('ZREMRANGEBYSCORE', K.slots, '-inf', now)
if redis.call('ZCARD', K.slots) >= tonumber(A.max_concurrent) then
  return 100
end
local interval = tonumber(A.interval_ms)
local tolerance = interval * (tonumber(A.burst) - 1)
local tat = math.max(tonumber(redis.call('GET', K.schedule) or '0'), now)
if tat - now > tolerance then return math.ceil(tat - now - tolerance) end
local nxt = tat + interval
redis.call('SET', K.schedule, string.format('%d', nxt), 'PX', math.ceil(nxt - now) + 60000)
redis.call('ZADD', K.slots, now + tonumber(A.lease_ms), A.token)
redis.call('PEXPIRE', K.slots, tonumber(A.lease_ms) + 60000)
return 0
