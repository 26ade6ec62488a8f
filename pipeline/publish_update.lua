-- Publish a new version of an already published article, once per change.
-- KEYS and ARGV are named in pipeline/publish.py (_UPDATE); A_REST.. are the stream fields.
-- Returns {'updated', stream id} | {'unchanged', ''} | {'unknown', ''} (no record: not ours
-- or expired)
if redis.call('EXISTS', K.record) == 0 then return {'unknown', ''} end
local changed = {}
for field, digest in string.gmatch(A.digests, '([%w_]+)=(%w+)') do
  if redis.call('HGET', K.record, field) ~= digest then
    changed[#changed + 1] = field
    redis.call('HSET', K.record, field, digest)
  end
end
if #changed == 0 then return {'unchanged', ''} end
local version = redis.call('HINCRBY', K.record, 'v', 1)
redis.call('EXPIRE', K.record, tonumber(A.ttl))
local xadd = {'XADD', K.articles, '*'}
for i = A_REST, #ARGV do xadd[#xadd + 1] = ARGV[i] end
xadd[#xadd + 1] = 'version'
xadd[#xadd + 1] = tostring(version)
xadd[#xadd + 1] = 'changed'
xadd[#xadd + 1] = table.concat(changed, ',')
local sid = redis.call(unpack(xadd))
redis.call('HINCRBY', K.counts, 'updated', 1)
redis.call('HINCRBY', K.feed_counts, 'updated', 1)
return {'updated', sid}
