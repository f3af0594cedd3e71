-- Shared by the session scripts, each of which includes it (--@include session-clock.lua).
--
-- now_ms()  Redis TIME in ms, so every instance agrees on when a session was last used
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
