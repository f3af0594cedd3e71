-- Stores a new task, so that a tasks/get on any instance finds it before its client is told its id.
--
-- KEYS[1]  the task's hash
-- ARGV[1]  how long it lives, in ms (its ttlMs)
-- ARGV[2…] field, value pairs (facts, status, message, run, ...)
--
-- Returns its creation time (Redis clock, ms), or -1 when the id is taken.
--@include task-common.lua
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local now = now_ms()
local sets = {'created_at', now, 'updated_at', now, 'ttl_ms', ARGV[1], 'pending', 0, 'seq', 0}
for i = 2, #ARGV, 2 do
  table.insert(sets, ARGV[i])
  table.insert(sets, ARGV[i + 1])
end
redis.call('HSET', KEYS[1], unpack(sets))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return now
