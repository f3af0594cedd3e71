-- Ends a pending request without a reviewer: it expired, or its call was withdrawn.
--
-- KEYS[1]  the request's state hash
-- KEYS[2]  the index of pending requests, which the request leaves when it ends
-- ARGV[1]  'expired' | 'withdrawn'
-- ARGV[2]  why, in words (shown to reviewers)
-- ARGV[3]  how long to keep the record once settled, in ms
-- ARGV[4]  the pub/sub channel that tells holding instances
-- ARGV[5]  the request id (for the published message)
--
-- Returns {code, field, value, ...} (the state hash after the step):
--   'settled'  the request is now ARGV[1]
--   'already'  it was decided before: nothing changed
--   'early'    ARGV[1] is 'expired' but its time has not run out: nothing changed
--   'missing'  no such request
--@include state.lua
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if state ~= 'pending' then return snapshot('already') end
local now = now_ms()
if ARGV[1] == 'expired' and now < tonumber(redis.call('HGET', KEYS[1], 'expires_at')) then
  return snapshot('early')
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'decided_by', '', 'decided_at', now, 'reason', ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZREM', KEYS[2], ARGV[5])
publish(ARGV[4], ARGV[5])
return snapshot('settled')
