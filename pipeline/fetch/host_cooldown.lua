-- Hold every request to a host until now + A.ms (never shortens a longer cooldown).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(A.ms)
local current = tonumber(redis.call('GET', K.cooldown) or '0')
if until_ms > current then
  redis.call('SET', K.cooldown, string.format('%d', until_ms), 'PX', tonumber(A.ms))
end
return until_ms
