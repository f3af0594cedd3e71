-- Shared by the approval scripts, each of which includes it (--@include state.lua).
--
-- now_ms()              Redis TIME in ms, so every instance agrees on the clock
-- snapshot(code)        {code, field, value, ...}: KEYS[1]'s state hash after the step
-- publish(channel, id)  that state hash as JSON on `channel`, which wakes the holding instances
--@include ../redis/clock.lua
--@include ../redis/snapshot.lua
local function publish(channel, id)
  local fields = redis.call('HGETALL', KEYS[1])
  local message = { id = id }
  for i = 1, #fields, 2 do message[fields[i]] = fields[i + 1] end
  redis.call('PUBLISH', channel, cjson.encode(message))
end
