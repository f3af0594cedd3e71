-- Ends a session on every instance: its record goes, a tombstone stays, its slot is freed, and the instances
-- holding a copy are told.
--
-- KEYS[1]  the grant's slots (see session-take.lua)
-- KEYS[2]  the session's record hash
-- KEYS[3]  the session's tombstone: tells an instance that missed the message that the session was ended,
--          rather than lost with Redis's data
-- ARGV[1]  the session id
-- ARGV[2]  the idle timeout, in ms
-- ARGV[3]  '1': end it only if no instance has used it within the idle timeout (the idle sweep); '0': end it (DELETE)
-- ARGV[4]  the pub/sub channel every instance listens on for ended sessions
--
-- Returns 'ended'; 'active' when ARGV[3] is '1' and it was used lately (nothing changed); 'missing' when there was
-- no record (ended all the same).
--@include ../redis/clock.lua
local idle = tonumber(ARGV[2])
local seen = redis.call('HGET', KEYS[2], 'active')
if ARGV[3] == '1' and seen and tonumber(seen) + idle > now_ms() then return 'active' end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[3], '1', 'PX', 2 * idle)
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[1])
if seen then return 'ended' end
return 'missing'
