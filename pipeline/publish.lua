-- Publish an article exactly once, atomically with every dedupe claim; or, when it is a
-- better copy of a published story, publish that story's new version (article.updated).
-- KEYS and ARGV are named in pipeline/publish.py (_PUBLISH); A_REST.. are the stream fields
-- (id, type, schema, body, in that order).
-- Near-duplicate index: two hashes (this time bucket and the one before), field -> value:
--   <shingle hash, 12 hex> -> <story ref, 10 hex><tag>: tag = the story's version mod 10
--     for its spread shingles, '~' for its lead shingles; '*' = held by two distinct stories
--     that share no other text (a template line: never counted again)
--   a<story ref> -> <article id>|<spread count>|<cut>|<words>|<metadata>|<tag>|<sketch>
--   ~ -> 1 (the bucket's expiry is set)
-- Streams are never trimmed here: pipeline/streams/retention.py trims behind the groups.
-- Returns {kind, detail}: {'already', outcome} | {'duplicate', article id} | {'published', stream id}
local ttl = tonumber(A.ttl)
local REF, MIN_SHINGLES, SOURCES_MAX, RELATED = 10, 6, 20, 0.2
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

local function split(s, width)
  local t = {}
  for i = 1, #s, width do t[#t + 1] = string.sub(s, i, i + width - 1) end
  return t
end

-- The body's shingles as held in both buckets (one HMGET each).
local own_ref = string.sub(A.article_id, 1, REF)
local lookup = split(A.lookup, 12)
local n_lookup = #lookup
local fields = {}
for i = 1, n_lookup do fields[i] = lookup[i] end
fields[n_lookup + 1] = 'a' .. own_ref
fields[n_lookup + 2] = '~'
local cur = redis.call('HMGET', K.bucket, unpack(fields))
local prev = redis.call('HMGET', K.bucket_prev, unpack(fields))
local holders, common, hits = {}, {}, {}
for i = 1, n_lookup do
  local a, b = cur[i], prev[i]
  if a == '*' or b == '*' then
    common[i] = true
  else
    for _, v in ipairs({a or '', b or ''}) do
      if v ~= '' then
        local ref, tag = string.sub(v, 1, REF), string.sub(v, REF + 1)
        holders[i] = holders[i] or {}
        if not holders[i][ref] then
          holders[i][ref] = tag
          hits[ref] = (hits[ref] or 0) + 1
        end
      end
    end
  end
end

-- The stories to compare with: the exact text's, then the most shared shingles' (at most 3).
local function candidates(exact)
  local refs = {}
  for ref, count in pairs(hits) do
    if ref ~= own_ref then refs[#refs + 1] = {ref, count} end
  end
  table.sort(refs, function(x, y) return x[2] > y[2] or (x[2] == y[2] and x[1] < y[1]) end)
  local out = {}
  if exact then out[1] = string.sub(exact, 1, REF) end
  for i = 1, math.min(3, #refs) do
    if refs[i][1] ~= out[1] then out[#out + 1] = refs[i][1] end
  end
  return out
end

local function parse_info(value)
  if not value then return nil end
  local id, n, cut, words, meta, tag, sketch =
    string.match(value, '^(%x+)|(%d+)|(%x*)|(%d+)|(%d+)|(.)|(%x*)$')
  if not id then return nil end
  return {id = id, n = tonumber(n), cut = cut, words = tonumber(words), meta = tonumber(meta),
          tag = tag, sketch = sketch}
end

-- The stories' signatures, this bucket's value first (two HMGETs, only when there are any).
local function infos(refs)
  if #refs == 0 then return {} end
  local names = {}
  for i, ref in ipairs(refs) do names[i] = 'a' .. ref end
  local a = redis.call('HMGET', K.bucket, unpack(names))
  local b = redis.call('HMGET', K.bucket_prev, unpack(names))
  local out = {}
  for i, ref in ipairs(refs) do out[ref] = parse_info(a[i] or b[i]) end
  return out
end

-- How near this body is to a story: share (of the smaller sample), whether it was measured
-- on the short-text sketch, and the share of the story's own sample this body contains.
local function nearness(ref, info)
  local votes, mine = 0, 0
  for i = 1, n_lookup do
    if holders[i] and holders[i][ref] == info.tag then votes = votes + 1 end
    if not common[i] and lookup[i] <= info.cut then mine = mine + 1 end
  end
  -- this body's share of the story's sample and sketch (the sketch against every shingle of
  -- this body's first words, which the lookup holds)
  local suffixes, held = {}, 0
  for i = 1, n_lookup do suffixes[string.sub(lookup[i], -4)] = true end
  local sketch = split(info.sketch, 4)
  for _, d in ipairs(sketch) do if suffixes[d] then held = held + 1 end end
  local contains = 0
  if info.n + #sketch > 0 then contains = math.min(1, (votes + held) / (info.n + #sketch)) end
  if info.n > 0 and (mine >= MIN_SHINGLES or votes >= 3) then
    -- the smaller text's sample: this body's shingles under the story's cut, but never much
    -- fewer than its length predicts (a few shingles under the cut are noise, not a short text)
    local ratio = math.min(1, tonumber(A.words) / math.max(1, info.words))
    local smaller = math.max(mine, 0.7 * info.n * ratio)
    return math.min(1, math.max(votes / info.n, votes / smaller)), false, contains
  end
  local own = split(A.sketch, 4)
  if #own < 2 then return 0, true, contains end
  local theirs = {}
  for _, d in ipairs(split(info.sketch, 4)) do theirs[d] = true end
  local inside = 0
  for _, d in ipairs(own) do if theirs[d] then inside = inside + 1 end end
  return inside / #own, true, contains
end

local function is_better(info, contains, exact)
  if exact then return tonumber(A.metadata) > info.meta end
  return contains >= tonumber(A.better_containment)
    and tonumber(A.words) >= info.words * (1 + tonumber(A.better_margin))
end

local dup_of, match, similarity, better = nil, nil, '1', nil
local related = {}  -- stories this body shares text with: their shingles are no template
if K.article_outcome ~= K.entry_outcome then
  dup_of = prior_article(K.article_outcome)
  match = 'canonical_url'
end
if not dup_of then
  local exact = redis.call('GET', K.fingerprint)
  local refs = candidates(exact)
  local known = infos(refs)
  if exact then
    dup_of, match = exact, 'content'
    local info = known[refs[1]]
    if info and info.id == exact and is_better(info, 1, true) then better = {refs[1], info} end
  else
    local best, best_share = nil, 0
    for _, ref in ipairs(refs) do
      local info = known[ref]
      if info then
        local share, short, contains = nearness(ref, info)
        if share >= RELATED then related[ref] = true end
        local bar = tonumber(A.threshold)
        if short then bar = tonumber(A.short_threshold) end
        if share >= bar and share > best_share then
          best, best_share = {ref, info, contains}, share
        end
      end
    end
    if best then
      dup_of, match = best[2].id, 'near_duplicate'
      similarity = string.format('%.3f', best_share)
      if is_better(best[2], best[3], false) then better = best end
    end
  end
end

-- Index this body's shingles under a story's ref (a shingle another story holds becomes
-- '*'), with the story's signature; one HSET, plus the bucket's expiry when it is new.
local function index(ref, tag, article_id)
  if string.sub(article_id, 1, REF) == own_ref then
    local mine = parse_info(cur[n_lookup + 1] or prev[n_lookup + 1])
    if mine and mine.id ~= article_id then return end  -- another story has this ref
  end
  local at = {}
  for i = 1, n_lookup do at[lookup[i]] = i end
  local hset, n = {'HSET', K.bucket}, 0
  local function put(shingle, value)
    local i = at[shingle]
    if i and common[i] then return false end
    local shared, kin = false, false
    if i and holders[i] then
      for r, _ in pairs(holders[i]) do
        if r ~= ref then
          if related[r] then kin = true else shared = true end
        end
      end
    end
    if kin and not shared then return false end  -- a related story keeps it (first keeps it)
    hset[#hset + 1] = shingle
    hset[#hset + 1] = shared and '*' or value
    return not shared
  end
  for _, s in ipairs(split(A.spread, 12)) do if put(s, ref .. tag) then n = n + 1 end end
  for _, s in ipairs(split(A.lead, 12)) do put(s, ref .. '~') end
  hset[#hset + 1] = 'a' .. ref
  hset[#hset + 1] = table.concat({article_id, n, A.cut, A.words, A.metadata, tag, A.sketch}, '|')
  local fresh = not cur[n_lookup + 2]
  if fresh then
    hset[#hset + 1] = '~'
    hset[#hset + 1] = '1'
  end
  redis.call(unpack(hset))
  if fresh then redis.call('EXPIREAT', K.bucket, A.bucket_expires_at) end
end

-- The URLs seen for a story (JSON list in its record): the first published one, then copies.
local function add_source(record, rec_sources, rec_sid, url)
  local list = {}
  if rec_sources then
    list = cjson.decode(rec_sources)
  elseif rec_sid then
    local first = redis.call('XRANGE', K.articles, rec_sid, rec_sid)
    if first[1] then
      local entry = first[1][2]
      for i = 1, #entry, 2 do
        if entry[i] == 'body' then
          local ok, body = pcall(cjson.decode, entry[i + 1])
          if ok and type(body) == 'table' and body.url then list[1] = body.url end
        end
      end
    end
  end
  local present = false
  for _, u in ipairs(list) do if u == url then present = true end end
  if not present and #list < SOURCES_MAX then list[#list + 1] = url end
  local encoded = cjson.encode(list)
  if encoded == '{}' then encoded = '[]' end
  return encoded
end

-- A better copy: the story's new version, on the articles stream under the story's id.
local function publish_version(story)
  local ref, info = story[1], story[2]
  local record = A.record_prefix .. info.id
  local names = {'v', 'sid', 'src'}
  local digests = {}
  for field, digest in string.gmatch(A.digests, '([%w_]+)=(%w+)') do
    digests[#digests + 1] = {field, digest}
    names[#names + 1] = field
  end
  local rec = redis.call('HMGET', record, unpack(names))
  if not rec[1] then return nil end  -- the story's record expired: a plain duplicate
  local changed, hset = {}, {'HSET', record}
  for i, pair in ipairs(digests) do
    if rec[3 + i] ~= pair[2] then
      changed[#changed + 1] = pair[1]
      hset[#hset + 1] = pair[1]
      hset[#hset + 1] = pair[2]
    end
  end
  if #changed == 0 then changed[1] = 'metadata' end
  local version = tonumber(rec[1]) + 1
  local sources = add_source(record, rec[3], rec[2], A.article_url)
  hset[#hset + 1] = 'v'
  hset[#hset + 1] = version
  hset[#hset + 1] = 'src'
  hset[#hset + 1] = sources
  redis.call(unpack(hset))
  redis.call('EXPIRE', record, ttl)
  local body = ARGV[A_REST + 7]
  local head = '{"id":"'
  if string.sub(body, 1, #head) == head and string.sub(body, #head + 65, #head + 65) == '"' then
    body = head .. info.id .. string.sub(body, #head + 65)
  end
  local sid = redis.call('XADD', K.articles, '*', 'id', info.id, 'type', 'article.updated',
    'schema', ARGV[A_REST + 5], 'body', body, 'version', tostring(version),
    'changed', table.concat(changed, ','), 'superseded_by', A.article_url, 'sources', sources)
  index(ref, tostring(version % 10), info.id)
  redis.call('SET', K.fingerprint, info.id, 'EX', ttl)
  redis.call('HINCRBY', K.counts, 'updated', 1)
  redis.call('HINCRBY', K.feed_counts, 'updated', 1)
  return sid
end

if dup_of then
  local update_sid = nil
  if better then update_sid = publish_version(better) end
  redis.call('SET', K.entry_outcome, outcome_value('duplicate', dup_of), 'EX', ttl)
  local event = {'XADD', K.events, '*',
    'type', 'duplicate', 'id', A.entry_id, 'url', A.entry_url, 'feed_url', A.feed_url,
    'duplicate_of', dup_of, 'match', match, 'similarity', similarity, 'at', A.now_ms}
  if update_sid then
    event[#event + 1] = 'update'
    event[#event + 1] = update_sid
  end
  redis.call(unpack(event))
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
index(own_ref, '1', A.article_id)
local record = {'HSET', K.record, 'v', 1, 'sid', sid}
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
