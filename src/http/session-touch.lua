-- An instance's periodic word that it still serves a member: the record's `active` and the slot's score move on.
--
-- KEYS[1]  the grant's slots (see session-take.lua)
-- KEYS[2]  the session's record hash; left out for a listen stream
-- KEYS[3]  the session's tombstone (see session-end.lua), with KEYS[2]
-- ARGV[1]  the member
-- ARGV[2]  the idle timeout, in ms
-- ARGV[3]  ms since this instance last saw the member in use; 0 while it has a request open
-- ARGV[4]  a new `state` field (JSON), or '' to keep the recorded one
--
-- Returns 'ok'; 'ended' when the session was ended (DELETE, idle) on some instance; 'missing' when Redis has
-- neither record nor tombstone (it lost its data): nothing is written then, the caller restores the record.
--@include ../redis/clock.lua
local idle = tonumber(ARGV[2])
local active = now_ms() - tonumber(ARGV[3])
if KEYS[2] then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    if redis.call('EXISTS', KEYS[3]) == 1 then return 'ended' end
    return 'missing'
  end
  -- Another instance may have seen it in use later than this one.
  local seen = tonumber(redis.call('HGET', KEYS[2], 'active') or '0')
  if seen > active then active = seen end
  redis.call('HSET', KEYS[2], 'active', active)
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'state', ARGV[4]) end
  redis.call('PEXPIRE', KEYS[2], 2 * idle)
end
redis.call('ZADD', KEYS[1], active + idle, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * idle)
return 'ok'
