-- Shared by the scripts that answer with the hash they changed (--@include ../redis/snapshot.lua).
--
-- snapshot(code)  {code, field, value, ...}: KEYS[1]'s hash after the step
local function snapshot(code)
  local fields = redis.call('HGETALL', KEYS[1])
  table.insert(fields, 1, code)
  return fields
end
