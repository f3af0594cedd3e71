-- Shared by the task scripts, each of which includes it (--@include task-common.lua).
--
-- now_ms()             Redis TIME in ms, so every instance agrees on the clock
-- snapshot(code)       {code, field, value, ...}: KEYS[1]'s hash after the step
-- listed(list, value)  whether `value` is in the comma-separated `list` ('*' lists everything)
--@include ../redis/clock.lua
--@include ../redis/snapshot.lua
local function listed(list, value)
  if list == '*' then return true end
  if not value then return false end
  return string.find(',' .. list .. ',', ',' .. value .. ',', 1, true) ~= nil
end
