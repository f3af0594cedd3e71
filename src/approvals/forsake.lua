-- Ends an approval whose call can no longer run: approved, not used, nothing
-- recorded about its execution, and the lease of the instance holding the
-- call is gone (it died, or lost Redis, after the approval was given). Marked
-- used, so a holder that was only slow cannot send the call afterwards.
--
-- KEYS[1]  the request's state hash
-- KEYS[2]  the holder's lease key
-- ARGV[1]  the execution record to store (JSON: the call was not sent, and why)
-- ARGV[2]  the pub/sub channel that tells holding instances
-- ARGV[3]  the request id (for the published message)
--
-- Returns {code, field, value, ...} (the state hash after the step):
--   'forsaken'      it was approved and unused with no holder: now marked used, with the execution record
--   'holder_alive'  the holder's lease is still there: it may yet use it; nothing changed
--   'done'          it was used, or its execution was recorded: nothing changed
--   'not_approved'  its state is not approved: nothing changed
--   'missing'       no such request
--@include state.lua
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if state ~= 'approved' then return snapshot('not_approved') end
if redis.call('HEXISTS', KEYS[1], 'consumed_at') == 1 or redis.call('HEXISTS', KEYS[1], 'execution') == 1 then
  return snapshot('done')
end
if redis.call('EXISTS', KEYS[2]) == 1 then return snapshot('holder_alive') end
redis.call('HSET', KEYS[1], 'consumed_at', now_ms(), 'execution', ARGV[1])
publish(ARGV[2], ARGV[3])
return snapshot('forsaken')
