-- Publish a new version of an already published article, once per change.
-- KEYS: 1 article record (digests and version), 2 articles stream, 3 outcome counts,
--       4 feed outcome counts
-- ARGV: 1 ttl, 2 field digests ("title=…;text=…"), 3.. stream fields (name, value, ...)
-- Returns {'updated', stream id} | {'unchanged', ''} | {'unknown', ''} (no record: not ours
-- or expired)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown', ''} end
local changed = {}
for field, digest in string.gmatch(ARGV[2], '([%w_]+)=(%w+)') do
  if redis.call('HGET', KEYS[1], field) ~= digest then
    changed[#changed + 1] = field
    redis.call('HSET', KEYS[1], field, digest)
  end
end
if #changed == 0 then return {'unchanged', ''} end
local version = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
local xadd = {'XADD', KEYS[2], '*'}
for i = 3, #ARGV do xadd[#xadd + 1] = ARGV[i] end
xadd[#xadd + 1] = 'version'
xadd[#xadd + 1] = tostring(version)
xadd[#xadd + 1] = 'changed'
xadd[#xadd + 1] = table.concat(changed, ',')
local sid = redis.call(unpack(xadd))
redis.call('HINCRBY', KEYS[3], 'updated', 1)
redis.call('HINCRBY', KEYS[4], 'updated', 1)
return {'updated', sid}
