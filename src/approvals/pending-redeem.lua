-- A repeat of a call in approval pending mode: runs under the call's approval
-- if it is approved, unused, for these arguments and within the repeat
-- window; only one repeat is ever told 'ok', however many race.
--
-- KEYS[1]  the request's state hash
-- KEYS[2]  the call's pending key (a digest of grant, session, server, tool, rule and arguments)
-- ARGV[1]  the request's id, as the pending key held it
-- ARGV[2]  the digest of the repeat's arguments
-- ARGV[3]  the repeat window in ms, counted from the approval
--
-- Returns {code, field, value, ...} (the state hash after the step):
--   'ok'        approved and unused: now marked used (consumed_at); the pending key lives to the window's end, so later repeats hear 'used'
--   'pending'   nobody has decided yet: nothing changed
--   'used'      an earlier repeat ran under it: nothing changed
--   'lapsed'    approved, but the window has passed: the pending key is dropped, so the next call opens a new request
--   'ended'     rejected, expired or withdrawn: the pending key is dropped likewise
--   'tampered'  the request was approved for other arguments: nothing changed
--   'moved'     the pending key holds no request or another one now (this one ended): the repeat is a new call
--   'missing'   no such request yet (its opener is still opening it) or any more
--@include state.lua
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'moved'} end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if state == 'pending' then return snapshot('pending') end
if state ~= 'approved' then
  redis.call('DEL', KEYS[2])
  return snapshot('ended')
end
if redis.call('HGET', KEYS[1], 'digest') ~= ARGV[2] then return snapshot('tampered') end
if redis.call('HEXISTS', KEYS[1], 'consumed_at') == 1 then return snapshot('used') end
local now = now_ms()
local closes = tonumber(redis.call('HGET', KEYS[1], 'decided_at')) + tonumber(ARGV[3])
if now > closes then
  redis.call('DEL', KEYS[2])
  return snapshot('lapsed')
end
redis.call('HSET', KEYS[1], 'consumed_at', now)
redis.call('PEXPIRE', KEYS[2], closes - now + 1)
return snapshot('ok')
