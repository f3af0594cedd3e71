-- Moves a task on, if it stands where the caller expects: the one way its status changes.
--
-- KEYS[1]  the task's hash
-- ARGV[1]  the statuses it may be in, comma-separated ('*': any)
-- ARGV[2]  the run states it may be in, comma-separated ('*': any)
-- ARGV[3]  how long the task lives from now on, in ms (its ttlMs grows to match); 0 leaves it
-- ARGV[4]  the pub/sub channel that tells every instance a task changed
-- ARGV[5]  the task id (the published message)
-- ARGV[6…] field, value pairs to set
--
-- Returns {code, field, value, ...} (the hash after the step):
--   'ok'       done
--   'refused'  it was elsewhere: nothing changed
--   'missing'  no such task (unknown, or its time ran out)
--@include task-common.lua
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local run = redis.call('HGET', KEYS[1], 'run')
if not (listed(ARGV[1], status) and listed(ARGV[2], run)) then return snapshot('refused') end
local now = now_ms()
local sets = {'updated_at', now}
for i = 6, #ARGV, 2 do
  table.insert(sets, ARGV[i])
  table.insert(sets, ARGV[i + 1])
end
redis.call('HSET', KEYS[1], unpack(sets))
if listed('completed,failed,cancelled', redis.call('HGET', KEYS[1], 'status')) then
  -- An ended task asks nothing more: its questions and unread answers go.
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(field, 1, 6) == 'input:' or string.sub(field, 1, 7) == 'answer:' then redis.call('HDEL', KEYS[1], field) end
  end
  redis.call('HSET', KEYS[1], 'pending', 0, 'input_bytes', 0)
end
local live = tonumber(ARGV[3])
if live > 0 then
  local created = tonumber(redis.call('HGET', KEYS[1], 'created_at'))
  redis.call('HSET', KEYS[1], 'ttl_ms', now - created + live)
  redis.call('PEXPIRE', KEYS[1], live)
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return snapshot('ok')
