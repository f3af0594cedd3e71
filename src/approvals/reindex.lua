-- Makes one request's entry in the index of pending requests agree with its
-- state hash: kept (scored by created_at) while it is pending, removed once
-- it is not or its record is gone. For requests an earlier Airlock opened or
-- ended (its scripts did not keep the index), and for entries whose record
-- expired or was evicted.
--
-- KEYS[1]  the request's state hash
-- KEYS[2]  the index of pending requests
-- ARGV[1]  the request id (its member in the index)
--
-- Returns 1 when the request is pending (and indexed), 0 when it is not (and not indexed).
local fields = redis.call('HMGET', KEYS[1], 'state', 'created_at')
if fields[1] == 'pending' and fields[2] then
  redis.call('ZADD', KEYS[2], tonumber(fields[2]), ARGV[1])
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 0
