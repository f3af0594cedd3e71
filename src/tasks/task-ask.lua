-- Puts one question of the task's server to its client: the task waits for input until every question is answered.
--
-- KEYS[1]  the task's hash
-- ARGV[1]  the question (JSON: {method, params})
-- ARGV[2]  the pub/sub channel that tells every instance a task changed
-- ARGV[3]  the task id
-- ARGV[4]  how many questions may be open at once
-- ARGV[5]  how many bytes of questions may be open at once
--
-- Returns {'ok', key} (the key the client answers it under, never used twice in the task's life),
-- {'full', 'questions' | 'bytes'} when it would pass a bound, {'refused', status} when the task
-- has ended, or {'missing'}.
--@include task-common.lua
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if not listed('working,input_required', status) then return {'refused', status} end
if tonumber(redis.call('HGET', KEYS[1], 'pending') or '0') >= tonumber(ARGV[4]) then return {'full', 'questions'} end
local bytes = tonumber(redis.call('HGET', KEYS[1], 'input_bytes') or '0') + string.len(ARGV[1])
if bytes > tonumber(ARGV[5]) then return {'full', 'bytes'} end
redis.call('HSET', KEYS[1], 'input_bytes', bytes)
local key = 'q' .. redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'input:' .. key, ARGV[1], 'status', 'input_required', 'updated_at', now_ms())
redis.call('HINCRBY', KEYS[1], 'pending', 1)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {'ok', key}
