-- Finds the approval request of a call in approval pending mode, or claims
-- the call for a new one: the first of any number of identical calls at once
-- opens the request, every other one is answered with its id.
--
-- KEYS[1]  the call's pending key (a digest of grant, session, server, tool, rule and arguments)
-- ARGV[1]  the id of the request this call would open
-- ARGV[2]  how long the claim lives, in ms: the request's timeout and the repeat window after it
--
-- Returns {code, id}:
--   'claimed'   there was none: ARGV[1] is the call's now, and the caller opens it
--   'existing'  the call has one already: its id
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then
  return {'claimed', ARGV[1]}
end
return {'existing', redis.call('GET', KEYS[1])}
