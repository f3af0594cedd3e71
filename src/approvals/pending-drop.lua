-- Gives up a claim on a call in approval pending mode whose request was not
-- opened after all (its rate limit refused it, or Redis or the channel
-- failed), so the next identical call is a new one; a claim that has since
-- passed to another request is left alone.
--
-- KEYS[1]  the call's pending key
-- ARGV[1]  the id of the request that was not opened
--
-- Returns 1 when the claim was dropped, 0 when it was not this one's.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
