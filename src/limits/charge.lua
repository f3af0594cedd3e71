-- Charge every counter of one call, or none: a sliding-window log per counter.
--
-- KEYS[1]   the call's cancel mark: set when the caller gave up waiting for this
--           script (Redis was slow or paused), so a late run charges nothing
-- KEYS[i+1] counter i's sorted set: one member per admitted call, scored by its time in ms
-- ARGV[1]   a member id unique to this call
-- ARGV[2i]  max of counter i       (0 refuses every call)
-- ARGV[2i+1] window of counter i in ms
--
-- Returns {1, count_1, ..., count_n}: admitted; each count includes this call.
--         {0, i, retry_after_ms, count}: counter i is full; nothing was charged;
--           retry_after_ms is -1 when max is 0 (no call is ever admitted).
--         {2}: cancelled; nothing was charged (nobody waits for this answer).
--
-- The clock is Redis TIME, so gateway instances with skewed clocks agree.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {2}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts = {}
local counters = {unpack(KEYS, 2)}
for i, key in ipairs(counters) do
  local max = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  -- A span of `window` ms ending now holds the calls after now - window.
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= max then
    if max == 0 then
      return {0, i, -1, count}
    end
    -- Once the (count - max + 1) oldest calls leave the window, one more fits.
    local oldest = redis.call('ZRANGE', key, count - max, count - max, 'WITHSCORES')
    return {0, i, tonumber(oldest[2]) + window - now, count}
  end
  counts[i] = count + 1
end
for i, key in ipairs(counters) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 1]))
end
return {1, unpack(counts)}
