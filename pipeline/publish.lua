-- Publish an article exactly once, atomically with every dedupe claim.
-- KEYS and ARGV are named in pipeline/publish.py (_PUBLISH); K_REST.. are the near-duplicate
-- anchor keys of the body, A_REST.. the stream fields (name, value, ...).
-- Streams are never trimmed here: pipeline/streams/retention.py trims behind the groups.
-- Returns {kind, detail}: {'already', outcome} | {'duplicate', article id} | {'published', stream id}
local ttl = tonumber(A.ttl)
-- The entry has an outcome from here on: it leaves the sent-entries ledger.
local function settle()
  redis.call('ZREM', K.sent, A.entry_id)
  redis.call('HDEL', K.sent_messages, A.entry_id)
end
local done = redis.call('GET', K.entry_outcome)
if done then return {'already', done} end

local function prior_article(key)
  local value = redis.call('GET', key)
  if not value then return nil end
  local kind, aid = outcome_kind(value), outcome_ref(value)
  if aid ~= '' and (kind == 'published' or kind == 'duplicate') then return aid end
  return nil
end

-- The current values of the body's anchor keys (one MGET, read once).
local anchors_read = nil
local function anchor_values()
  if anchors_read == nil then
    anchors_read = {}
    if #KEYS >= K_REST then anchors_read = redis.call('MGET', unpack(KEYS, K_REST, #KEYS)) end
  end
  return anchors_read
end

-- The published article sharing the most anchors, if it shares enough of the smaller text's.
local function near_duplicate()
  local own = #KEYS - K_REST + 1
  if own < tonumber(A.min_anchors) then return nil end
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
  if share >= tonumber(A.threshold) then return best, share end
  return nil
end

local dup_of, match, similarity = nil, nil, '1'
if K.article_outcome ~= K.entry_outcome then
  dup_of = prior_article(K.article_outcome)
  match = 'canonical_url'
end
if not dup_of then
  dup_of = redis.call('GET', K.fingerprint)
  match = 'content'
end
if not dup_of then
  local share
  dup_of, share = near_duplicate()
  match = 'near_duplicate'
  if share then similarity = string.format('%.3f', share) end
end
if dup_of then
  redis.call('SET', K.entry_outcome, outcome_value('duplicate', dup_of), 'EX', ttl)
  redis.call('XADD', K.events, '*',
    'type', 'duplicate', 'id', A.entry_id, 'url', A.entry_url, 'feed_url', A.feed_url,
    'duplicate_of', dup_of, 'match', match, 'similarity', similarity, 'at', A.now_ms)
  redis.call('HINCRBY', K.counts, 'duplicate', 1)
  redis.call('HINCRBY', K.feed_counts, 'duplicate', 1)
  settle()
  return {'duplicate', dup_of}
end

local xadd = {'XADD', K.articles, '*'}
for i = A_REST, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local sid = redis.call(unpack(xadd))
local value = outcome_value('published', A.article_id, sid)
redis.call('SET', K.entry_outcome, value, 'EX', ttl)
if K.article_outcome ~= K.entry_outcome then redis.call('SET', K.article_outcome, value, 'EX', ttl) end
redis.call('SET', K.fingerprint, A.article_id, 'EX', ttl)
local anchor = A.article_id .. ':' .. (#KEYS - K_REST + 1)
local held = anchor_values()
for i = K_REST, #KEYS do
  if not held[i - K_REST + 1] then redis.call('SET', KEYS[i], anchor, 'EX', ttl) end  -- first keeps it
end
local record = {'HSET', K.record, 'v', 1}
for field, digest in string.gmatch(A.digests, '([%w_]+)=(%w+)') do
  record[#record + 1] = field
  record[#record + 1] = digest
end
redis.call(unpack(record))
redis.call('EXPIRE', K.record, ttl)
redis.call('HINCRBY', K.counts, 'published', 1)
redis.call('HINCRBY', K.feed_counts, 'published', 1)
settle()
return {'published', sid}
