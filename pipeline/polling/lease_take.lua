-- Take the lease if it is free, or renew it if this owner holds it: 1, else 0.
if redis.call('GET', K.lease) == A.owner then
  return redis.call('PEXPIRE', K.lease, A.ttl_ms)
end
if redis.call('SET', K.lease, A.owner, 'NX', 'PX', A.ttl_ms) then return 1 end
return 0
