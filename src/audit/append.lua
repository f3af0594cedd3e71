-- Appends events to the audit chain in one atomic step, so any number of
-- instances append to one unbroken chain without coordinating. Each event
-- gets the next seq, the previous event's hash as `prev`, and
--   hash = sha256('<seq>:<prev>:<content hash>')
-- where the content hash is the SHA-256 of the event's canonical JSON (the
-- caller's: the whole event is never hashed here). The caller links the
-- events to the head it last saw; when another instance appended since,
-- this script links them again itself (sha256.lua runs first: Redis has no
-- SHA-256, and doing it in Lua costs ~70 µs a block, so only then). Then
-- trims what retention no longer keeps and remembers where the kept part
-- starts, so removing old events by hand still shows.
--
-- KEYS[1]  the stream of events (one field `e`: the event's JSON)
-- KEYS[2]  the chain head: '<seq> <hash>' of the last event (missing: none yet)
-- KEYS[3]  the trim mark: '<seq> <hash>' of the last event removed by retention
-- ARGV[1]  the head the caller linked to ('' for none)
-- ARGV[2]  drop events older than this (a stream id time in ms; '0': do not trim now)
-- ARGV[3]  keep at most this many events ('0': no cap)
-- ARGV[4…] triples: content hash, the event's JSON without seq/prev/hash, the caller's link hash
--
-- Returns {head, id, id, ...}: the head after these events, and each event's stream id.
local head = redis.call('GET', KEYS[2]) or ''
local linked = head == ARGV[1]
local seq, prev = 0, string.rep('0', 64)
if head ~= '' then
  local space = string.find(head, ' ', 1, true)
  seq, prev = tonumber(string.sub(head, 1, space - 1)), string.sub(head, space + 1)
end

local reply = {''}
for i = 4, #ARGV, 3 do
  seq = seq + 1
  local n = string.format('%d', seq)
  local hash = linked and ARGV[i + 2] or sha256(n .. ':' .. prev .. ':' .. ARGV[i])
  local event = string.sub(ARGV[i + 1], 1, -2) .. ',"seq":' .. n .. ',"prev":"' .. prev .. '","hash":"' .. hash .. '"}'
  table.insert(reply, redis.call('XADD', KEYS[1], '*', 'e', event))
  prev = hash
end
reply[1] = string.format('%d', seq) .. ' ' .. prev
redis.call('SET', KEYS[2], reply[1])

local function mark(entry)
  local event = cjson.decode(entry[2][2])
  redis.call('SET', KEYS[3], string.format('%d', event.seq) .. ' ' .. event.hash)
end
if ARGV[2] ~= '0' then
  local older = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[2], '-', 'COUNT', 1)
  if #older == 1 then
    mark(older[1])
    redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
  end
end
local max = tonumber(ARGV[3])
if max > 0 then
  local over = redis.call('XLEN', KEYS[1]) - max
  if over > 0 then
    local removed = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over)
    mark(removed[#removed])
    redis.call('XTRIM', KEYS[1], 'MAXLEN', max)
  end
end
return reply
