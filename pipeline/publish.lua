-- Publish an article exactly once, atomically with every dedupe claim.
-- KEYS: 1 entry outcome key, 2 article outcome key (may equal 1), 3 content fingerprint key,
--       4 articles stream, 5 events stream, 6 outcome counts, 7 feed outcome counts,
--       8 article record (field digests and version, for updates),
--       9.. near-duplicate anchor keys of the body
-- ARGV: 1 ttl, 2 article id, 3 entry id, 4 entry url, 5 feed url, 6 time (ms),
--       7 near-duplicate threshold (share of anchors), 8 fewest anchors to judge on,
--       9 field digests ("title=…;text=…"), 10.. stream fields (name, value, ...)
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

-- The current values of the body's anchor keys (one MGET, read once).
local anchors_read = nil
local function anchor_values()
  if anchors_read == nil then
    anchors_read = {}
    if #KEYS >= 9 then anchors_read = redis.call('MGET', unpack(KEYS, 9, #KEYS)) end
  end
  return anchors_read
end

-- The published article sharing the most anchors, if it shares enough of the smaller text's.
local function near_duplicate()
  local own = #KEYS - 8
  if own < tonumber(ARGV[8]) then return nil end
  local votes, sizes, best, best_votes = {}, {}, nil, 0
  for _, value in ipairs(anchor_values()) do
    if value then
      local aid, size = string.match(value, '^([^:]+):(%d+)$')
      if aid then
        votes[aid] = (votes[aid] or 0) + 1
        sizes[aid] = tonumber(size)
        if votes[aid] > best_votes then best, best_votes = aid, votes[aid] end
      end
    end
  end
  if not best then return nil end
  local share = best_votes / math.min(own, sizes[best])
  if share >= tonumber(ARGV[7]) then return best, share end
  return nil
end

local dup_of, match, similarity = nil, nil, '1'
if KEYS[2] ~= KEYS[1] then
  dup_of = prior_article(KEYS[2])
  match = 'canonical_url'
end
if not dup_of then
  dup_of = redis.call('GET', KEYS[3])
  match = 'content'
end
if not dup_of then
  local share
  dup_of, share = near_duplicate()
  match = 'near_duplicate'
  if share then similarity = string.format('%.3f', share) end
end
if dup_of then
  redis.call('SET', KEYS[1], 'duplicate|' .. dup_of, 'EX', ttl)
  redis.call('XADD', KEYS[5], '*',
    'type', 'duplicate', 'id', ARGV[3], 'url', ARGV[4], 'feed_url', ARGV[5],
    'duplicate_of', dup_of, 'match', match, 'similarity', similarity, 'at', ARGV[6])
  redis.call('HINCRBY', KEYS[6], 'duplicate', 1)
  redis.call('HINCRBY', KEYS[7], 'duplicate', 1)
  return {'duplicate', dup_of}
end

local xadd = {'XADD', KEYS[4], '*'}
for i = 10, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local sid = redis.call(unpack(xadd))
local value = 'published|' .. ARGV[2] .. '|' .. sid
redis.call('SET', KEYS[1], value, 'EX', ttl)
if KEYS[2] ~= KEYS[1] then redis.call('SET', KEYS[2], value, 'EX', ttl) end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ttl)
local anchor = ARGV[2] .. ':' .. (#KEYS - 8)
local held = anchor_values()
for i = 9, #KEYS do
  if not held[i - 8] then redis.call('SET', KEYS[i], anchor, 'EX', ttl) end  -- first one keeps it
end
local record = {'HSET', KEYS[8], 'v', 1}
for field, digest in string.gmatch(ARGV[9], '([%w_]+)=(%w+)') do
  record[#record + 1] = field
  record[#record + 1] = digest
end
redis.call(unpack(record))
redis.call('EXPIRE', KEYS[8], ttl)
redis.call('HINCRBY', KEYS[6], 'published', 1)
redis.call('HINCRBY', KEYS[7], 'published', 1)
return {'published', sid}
