-- Count up to A.page entries of K.stream in [A.start, A.stop]: {count, last id}.
local rows = redis.call('XRANGE', K.stream, A.start, A.stop, 'COUNT', A.page)
if #rows == 0 then return {0, ''} end
return {#rows, rows[#rows][1]}
