-- Shared by the task scripts, each of which includes it (--@include task-common.lua).
--
-- now_ms()             Redis TIME in ms, so every instance agrees on the clock
-- snapshot(code)       {code, field, value, ...}: KEYS[1]'s hash after the step
-- listed(list, value)  whether `value` is in the comma-separated `list` ('*' lists everything)
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function snapshot(code)
  local fields = redis.call('HGETALL', KEYS[1])
  table.insert(fields, 1, code)
  return fields
end
local function listed(list, value)
  if list == '*' then return true end
  if not value then return false end
  return string.find(',' .. list .. ',', ',' .. value .. ',', 1, true) ~= nil
end
