-- Take a dead-lettered entry back so it can be enqueued again (newsflow dead retry).
-- KEYS: 1 dead stream, 2 entry outcome key, 3 outcome counts, 4 feed outcome counts
-- ARGV: 1 dead stream entry id
-- Returns the entry message JSON, or false when the id is not a dead letter any more.
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields = found[1][2]
local entry = nil
for i = 1, #fields, 2 do
  if fields[i] == 'entry' then entry = fields[i + 1] end
end
local outcome = redis.call('GET', KEYS[2])
if not entry or not outcome or string.sub(outcome, 1, 5) ~= 'dead|' then return false end
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[3], 'dead', -1)
redis.call('HINCRBY', KEYS[4], 'dead', -1)
redis.call('XDEL', KEYS[1], ARGV[1])
return entry
