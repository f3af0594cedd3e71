-- Charge every counter of one call, or none: a sliding-window log per counter.
-- A busy gateway may take a few slots ahead (a lease) to admit its next calls
-- without asking again; see rate-limiter.ts for why and how that stays exact.
--
-- KEYS[1]   the request's cancel mark: set when the caller gave up waiting for
--           this script (Redis was slow or paused), so a late run charges nothing
-- KEYS[i+1] counter i's sorted set: one member per admitted call, scored in ms
-- ARGV[1]   an id unique to this request; its slots are <id>#1 … <id>#n
-- ARGV[2]   slots wanted: 1 without a lease charges this call only
-- ARGV[3]   the lease's length in ms (0: none): slots are scored at its end
-- ARGV[2i+2] max of counter i       (0 refuses every call)
-- ARGV[2i+3] window of counter i in ms
--
-- Returns {1, n}: admitted; n slots charged to every counter (at most the
--           slots wanted, and one at least).
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
local granted = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local counters = {unpack(KEYS, 2)}
for i, key in ipairs(counters) do
  local max = tonumber(ARGV[2 * i + 2])
  local window = tonumber(ARGV[2 * i + 3])
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
  -- A lease takes at most 1/64 of the room left (LEASE_SHARE in
  -- rate-limiter.ts), so a counter below 128 calls from its max is charged
  -- call by call, and few slots can sit unused on one instance while
  -- another's calls are refused.
  granted = math.max(1, math.min(granted, math.floor((max - count) / 64)))
end
-- A leased slot may be used until the lease ends, so it is scored then: it
-- leaves the window no earlier than the call it admits would.
local score = now + lease
local members = {}
for j = 1, granted do
  members[2 * j - 1] = score
  members[2 * j] = ARGV[1] .. '#' .. j
end
for i, key in ipairs(counters) do
  redis.call('ZADD', key, unpack(members))
  -- The key lives until its newest entry leaves the window: a slot leased
  -- ahead by another request may be newer than this one.
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 3]) + tonumber(newest[2]) - now)
end
return {1, granted}
