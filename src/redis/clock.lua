-- Shared by the scripts that read the time (--@include ../redis/clock.lua).
--
-- now_ms()  Redis TIME in ms, so every instance agrees on the clock
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
