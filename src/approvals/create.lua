-- Open an approval request in state `pending`.
--
-- KEYS[1]  the request's state hash
-- KEYS[2]  the index of pending requests (a sorted set of ids scored by created_at)
-- ARGV[1]  id of the gateway instance holding the call (its lease key must exist to approve)
-- ARGV[2]  min_approvals
-- ARGV[3]  timeout in ms
-- ARGV[4]  the arguments' digest (the deployment's HMAC-SHA256 of their canonical JSON)
-- ARGV[5]  how long to keep the record after it is decided, in ms
-- ARGV[6]  the request id (its member in the index)
--
-- Returns {created_at, expires_at} in ms of Redis TIME, or {-1} when the id is taken.
--
-- The clock is Redis TIME, so every instance agrees on when a request expires.
--@include state.lua
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1}
end
local now = now_ms()
local expires = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1],
  'state', 'pending', 'holder', ARGV[1], 'min', ARGV[2], 'digest', ARGV[4],
  'created_at', now, 'expires_at', expires, 'votes', '[]')
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[5]))
redis.call('ZADD', KEYS[2], now, ARGV[6])
return {now, expires}
