-- Takes a slot of a grant's session limit, counted across every instance, and writes the session's record.
--
-- KEYS[1]  the grant's slots: a sorted set of members scored by when each goes idle (ms, Redis TIME)
-- KEYS[2]  the session's record hash; left out for a 2026 listen stream, which has no record
-- ARGV[1]  the member: a session id, or `listen:<uuid>`
-- ARGV[2]  the idle timeout (listen.session_idle_timeout), in ms
-- ARGV[3]  the most members the grant may hold; 0 takes the slot unchecked (a live session whose record Redis lost)
-- ARGV[4]  the record's `record` field (JSON), with KEYS[2]
-- ARGV[5]  the record's `state` field (JSON), with KEYS[2]
--
-- Returns {1} when taken, or {0, ms}: the limit is reached and the soonest member goes idle in ms.
--@include ../redis/clock.lua
local now = now_ms()
local idle = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if max > 0 and redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= max then
  local soonest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(0, tonumber(soonest[2]) - now)}
end
redis.call('ZADD', KEYS[1], now + idle, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * idle)
if KEYS[2] then
  redis.call('HSET', KEYS[2], 'record', ARGV[4], 'state', ARGV[5], 'active', now)
  redis.call('PEXPIRE', KEYS[2], 2 * idle)
end
return {1}
