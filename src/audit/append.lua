-- Appends events to the audit chain in one atomic step, so any number of
-- instances append to one unbroken chain without coordinating. Each event
-- gets the next seq, the previous event's hash as `prev`, and
--   hash = sha256('<seq>:<prev>:<content hash>')
-- where the content hash is the SHA-256 of the event's canonical JSON (the
-- caller's: the whole event is never hashed here). The caller links the
-- events to the head it last saw; when another instance appended since,
-- this script links them again itself (with the sha256.lua it includes: Redis
-- has no SHA-256, and doing it in Lua costs ~70 µs a block, so only then). Then
-- trims what retention no longer keeps and remembers where the kept part
-- starts, so removing old events by hand still shows.
--
-- Checkpoints: the anchor key never reaches Redis, so a caller signs them.
-- This script says when one is due (checkpoint.events events after the
-- last, or checkpoint.interval by Redis's clock, so every instance agrees)
-- and hands the work to one caller at a time: the first to see it due takes
-- a short claim, signs the head this script returned, and appends the
-- checkpoint as the first event of its next call. A claim lapses if its
-- holder dies, so another instance takes over. The head is returned on
-- every call, so each instance sees when it goes back (events cut from the
-- end, and the head reset) and signs that it did.
--
-- KEYS[1]  the stream of events (one field `e`: the event's JSON)
-- KEYS[2]  the chain head: '<seq> <hash>' of the last event (missing: none yet)
-- KEYS[3]  the trim mark: '<seq> <hash>' of the last event removed by retention
-- KEYS[4]  the checkpoint state: '<seq it covers> <its own seq> <Redis ms when stored>' of the newest checkpoint
-- KEYS[5]  the checkpoint claim: the claimant's token, with a lease
-- ARGV[1]  the head the caller linked to ('' for none)
-- ARGV[2]  drop events older than this (a stream id time in ms; '0': do not trim now)
-- ARGV[3]  keep at most this many events ('0': no cap)
-- ARGV[4]  '' (the caller signs no checkpoints), or '<every events> <every ms> <lease ms> <force 0|1> <token>'
-- ARGV[5]  the seq the first event covers when it is a checkpoint, else '0'
-- ARGV[6…] triples: content hash, the event's JSON without seq/prev/hash, the caller's link hash
--
-- Returns {head, claim, newest}: the head after these events; claim '1' when
-- this caller is to sign the next checkpoint over that head, else ''; and the
-- seq of the newest checkpoint ('0': none known), which the next one names.
--@include sha256.lua
local head = redis.call('GET', KEYS[2]) or ''
local linked = head == ARGV[1]
local seq, prev = 0, string.rep('0', 64)
if head ~= '' then
  local space = string.find(head, ' ', 1, true)
  seq, prev = tonumber(string.sub(head, 1, space - 1)), string.sub(head, space + 1)
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function state()
  local text = redis.call('GET', KEYS[4])
  if not text then return nil end
  local covered, at, ms = string.match(text, '^(%d+) (%d+) (%d+)$')
  if not covered then return nil end
  return { covered = tonumber(covered), at = tonumber(at), ms = tonumber(ms) }
end

local reply = {'', '', '0'}
local FIRST = 6
for i = FIRST, #ARGV, 3 do
  seq = seq + 1
  local n = string.format('%d', seq)
  local hash = linked and ARGV[i + 2] or sha256(n .. ':' .. prev .. ':' .. ARGV[i])
  local event = string.sub(ARGV[i + 1], 1, -2) .. ',"seq":' .. n .. ',"prev":"' .. prev .. '","hash":"' .. hash .. '"}'
  redis.call('XADD', KEYS[1], '*', 'e', event)
  if i == FIRST and ARGV[5] ~= '0' then
    -- A checkpoint that lands after a newer one (its claim lapsed) leaves the state to the newer;
    -- a state past this seq is from before a cut, and is replaced.
    local newest = state()
    if not newest or newest.at > seq or newest.covered < tonumber(ARGV[5]) then
      redis.call('SET', KEYS[4], ARGV[5] .. ' ' .. n .. ' ' .. string.format('%d', now))
    end
    redis.call('DEL', KEYS[5])
  end
  prev = hash
end
reply[1] = string.format('%d', seq) .. ' ' .. prev
if #ARGV >= FIRST then redis.call('SET', KEYS[2], reply[1]) end

if ARGV[4] ~= '' and seq > 0 then
  local everyEvents, everyMs, lease, force, token = string.match(ARGV[4], '^(%d+) (%d+) (%d+) ([01]) (.+)$')
  local newest = state()
  -- A state from the future (or past the head) was not written by this script: start afresh rather than never be due.
  local sane = newest and newest.at <= seq and newest.ms <= now + tonumber(everyMs)
  -- One checkpoint per call at most: the one just written is never due again at once.
  local wrote = ARGV[5] ~= '0'
  local due = force == '1' or (not wrote and (not sane or seq - newest.at >= tonumber(everyEvents) or now - newest.ms >= tonumber(everyMs)))
  if sane then reply[3] = string.format('%d', newest.at) end
  if due then
    -- A claim without a lease was not taken by a gateway, and would stop checkpoints for good.
    local take = force == '1' or redis.call('PTTL', KEYS[5]) == -1
    if take then redis.call('SET', KEYS[5], token, 'PX', lease) end
    if take or redis.call('SET', KEYS[5], token, 'NX', 'PX', lease) then reply[2] = '1' end
  end
end

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
