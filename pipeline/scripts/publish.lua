-- Publish an article exactly once, atomically with every dedupe claim.
-- KEYS: 1 entry outcome key, 2 article outcome key (may equal 1), 3 content fingerprint key,
--       4 articles stream, 5 events stream, 6 outcome counts, 7 feed outcome counts
-- ARGV: 1 ttl, 2 article id, 3 entry id, 4 entry url, 5 feed url, 6 time (ms),
--       7.. stream fields (name, value, ...)
-- Streams are never trimmed here: pipeline/retention.py trims behind the consumer groups.
-- Returns {kind, detail}: {'already', outcome} | {'duplicate', article id} | {'published', stream id}
local ttl = tonumber(ARGV[1])
local done = redis.call('GET', KEYS[1])
if done then return {'already', done} end

local function prior_article(key)
  local value = redis.call('GET', key)
  if not value then return nil end
  local kind, aid = string.match(value, '^(%a+)|([^|]+)')
  if kind == 'published' or kind == 'duplicate' then return aid end
  return nil
end

local dup_of, match = nil, nil
if KEYS[2] ~= KEYS[1] then
  dup_of = prior_article(KEYS[2])
  match = 'canonical_url'
end
if not dup_of then
  dup_of = redis.call('GET', KEYS[3])
  match = 'content'
end
if dup_of then
  redis.call('SET', KEYS[1], 'duplicate|' .. dup_of, 'EX', ttl)
  redis.call('XADD', KEYS[5], '*',
    'type', 'duplicate', 'id', ARGV[3], 'url', ARGV[4], 'feed_url', ARGV[5],
    'duplicate_of', dup_of, 'match', match, 'at', ARGV[6])
  redis.call('HINCRBY', KEYS[6], 'duplicate', 1)
  redis.call('HINCRBY', KEYS[7], 'duplicate', 1)
  return {'duplicate', dup_of}
end

local xadd = {'XADD', KEYS[4], '*'}
for i = 7, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local sid = redis.call(unpack(xadd))
local value = 'published|' .. ARGV[2] .. '|' .. sid
redis.call('SET', KEYS[1], value, 'EX', ttl)
if KEYS[2] ~= KEYS[1] then redis.call('SET', KEYS[2], value, 'EX', ttl) end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ttl)
redis.call('HINCRBY', KEYS[6], 'published', 1)
redis.call('HINCRBY', KEYS[7], 'published', 1)
return {'published', sid}
