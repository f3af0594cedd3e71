-- Takes a client's answers (tasks/update): each to a question still open; any other is left out.
--
-- KEYS[1]  the task's hash
-- ARGV[1]  the pub/sub channel that tells every instance a task changed
-- ARGV[2]  the task id
-- ARGV[3…] key, answer (JSON) pairs
--
-- Returns {'ok', status, accepted, ignored keys...}, {'refused', status} when the task asks nothing
-- (it is working or has ended), or {'missing'}.
--@include task-common.lua
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status ~= 'input_required' then return {'refused', status} end
local accepted = 0
local ignored = {}
for i = 3, #ARGV, 2 do
  local key = ARGV[i]
  local size = redis.call('HSTRLEN', KEYS[1], 'input:' .. key)
  if redis.call('HDEL', KEYS[1], 'input:' .. key) == 1 then
    redis.call('HINCRBY', KEYS[1], 'input_bytes', -size)
    redis.call('HSET', KEYS[1], 'answer:' .. key, ARGV[i + 1])
    accepted = accepted + 1
  else
    table.insert(ignored, key)
  end
end
if accepted > 0 then
  local pending = redis.call('HINCRBY', KEYS[1], 'pending', -accepted)
  if pending <= 0 then
    status = 'working'
    redis.call('HSET', KEYS[1], 'status', status, 'pending', 0)
  end
  redis.call('HSET', KEYS[1], 'updated_at', now_ms())
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
local reply = {'ok', status, accepted}
for _, key in ipairs(ignored) do table.insert(reply, key) end
return reply
