-- Puts one question of the task's server to its client: the task waits for input until every question is answered.
--
-- KEYS[1]  the task's hash
-- ARGV[1]  the question (JSON: {method, params})
-- ARGV[2]  the pub/sub channel that tells every instance a task changed
-- ARGV[3]  the task id
--
-- Returns {'ok', key} (the key the client answers it under, never used twice in the task's life),
-- {'refused', status} when the task has ended, or {'missing'}.
--@include task-common.lua
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if not listed('working,input_required', status) then return {'refused', status} end
local key = 'q' .. redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'input:' .. key, ARGV[1], 'status', 'input_required', 'updated_at', now_ms())
redis.call('HINCRBY', KEYS[1], 'pending', 1)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {'ok', key}
