-- Shared by the approval scripts, each of which includes it (--@include state.lua).
--
-- now_ms()              Redis TIME in ms, so every instance agrees on the clock
-- snapshot(code)        {code, field, value, ...}: KEYS[1]'s state hash after the step
-- publish(channel, id)  that state hash as JSON on `channel`, which wakes the holding instances
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function snapshot(code)
  local fields = redis.call('HGETALL', KEYS[1])
  table.insert(fields, 1, code)
  return fields
end
local function publish(channel, id)
  local fields = redis.call('HGETALL', KEYS[1])
  local message = { id = id }
  for i = 1, #fields, 2 do message[fields[i]] = fields[i + 1] end
  redis.call('PUBLISH', channel, cjson.encode(message))
end
