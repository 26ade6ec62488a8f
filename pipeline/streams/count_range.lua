-- Count up to ARGV[3] entries of KEYS[1] in [ARGV[1], ARGV[2]]: {count, last id}.
local rows = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
if #rows == 0 then return {0, ''} end
return {#rows, rows[#rows][1]}
