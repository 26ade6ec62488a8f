-- Entries of K.stream after A.after (exclusive), counted up to A.cap in pages: the lag of a
-- consumer group on Redis < 7 (no 'lag' in XINFO GROUPS), from its last-delivered id.
local count, start, cap = 0, '(' .. A.after, tonumber(A.cap)
while count < cap do
  local batch = redis.call('XRANGE', K.stream, start, '+', 'COUNT', math.min(500, cap - count))
  if #batch == 0 then break end
  count = count + #batch
  start = '(' .. batch[#batch][1]
end
return count
