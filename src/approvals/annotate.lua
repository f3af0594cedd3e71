-- Adds fields to a request that still exists (what the server answered, the channel's message handle).
--
-- KEYS[1]  the request's state hash
-- ARGV     field, value, field, value, ...
--
-- Returns 1 when written, 0 when the request is gone (HSET would recreate it without a TTL).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
