-- Give the lease up if this owner holds it: 1, else 0.
if redis.call('GET', K.lease) == A.owner then return redis.call('DEL', K.lease) end
return 0
