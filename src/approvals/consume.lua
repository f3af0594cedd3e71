-- Uses an approval for the one call it covers, right before that call is sent.
--
-- KEYS[1]  the request's state hash
--
-- Returns {code, field, value, ...} (the state hash after the step):
--   'ok'            it was approved and unused; now marked used (consumed_at)
--   'not_approved'  its state is not approved: nothing changed
--   'used'          it already covered a call: nothing changed
--   'missing'       no such request
--@include state.lua
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if state ~= 'approved' then return snapshot('not_approved') end
if redis.call('HEXISTS', KEYS[1], 'consumed_at') == 1 then return snapshot('used') end
redis.call('HSET', KEYS[1], 'consumed_at', now_ms())
return snapshot('ok')
