-- A reviewer's approve or reject: the first decision wins, later ones change nothing.
--
-- KEYS[1]  the request's state hash
-- KEYS[2]  the lease key of the instance holding the call (state field `holder`)
-- KEYS[3]  the index of pending requests, which the request leaves when it ends
-- ARGV[1]  'approve' | 'reject'
-- ARGV[2]  who decides (a Slack user id or an admin name)
-- ARGV[3]  the reviewer's reason ('' for none)
-- ARGV[4]  the channel they decided through ('console', 'slack')
-- ARGV[5]  how long to keep the record once decided, in ms
-- ARGV[6]  the pub/sub channel that tells holding instances
-- ARGV[7]  the request id (for the published message)
-- ARGV[8]  the decider's display name ('' when `by` is already a name)
-- ARGV[9]  the person (a `people` entry) the decider's identity belongs to ('' for none)
--
-- Returns {code, field, value, field, value, ...} (the state hash after the step):
--   'decided'    this vote ended the request (approved or rejected)
--   'counted'    approve recorded, more approvals needed (min_approvals > 1)
--   'already'    not pending any more: nothing changed
--   'duplicate'  this person already approved (through any identity): nothing changed
--   'expired'    its time had run out: now expired, the vote not counted
--   'orphaned'   the instance holding the call is gone: now withdrawn
--   'missing'    no such request
--@include state.lua
local function finish(state, by, reason, now)
  redis.call('HSET', KEYS[1], 'state', state, 'decided_by', by, 'decided_at', now, 'reason', reason)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
  redis.call('ZREM', KEYS[3], ARGV[7])
end

-- The person a vote counts for, as voterKey in deciders.ts: `min_approvals` counts people, not identities.
local function voter_key(vote)
  if vote.person then return 'person:' .. vote.person end
  return vote.via .. ':' .. vote.by
end

local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if state ~= 'pending' then return snapshot('already') end
local now = now_ms()
if now >= tonumber(redis.call('HGET', KEYS[1], 'expires_at')) then
  finish('expired', '', 'nobody decided in time', now)
  publish(ARGV[6], ARGV[7])
  return snapshot('expired')
end
-- An approval for a call nobody holds would run nothing while saying yes to it.
if redis.call('EXISTS', KEYS[2]) == 0 then
  finish('withdrawn', '', 'the gateway instance holding the call stopped', now)
  publish(ARGV[6], ARGV[7])
  return snapshot('orphaned')
end

local vote = { by = ARGV[2], at = now, via = ARGV[4] }
if ARGV[8] ~= '' then vote.name = ARGV[8] end
if ARGV[9] ~= '' then vote.person = ARGV[9] end
if ARGV[1] == 'reject' then
  vote.verdict = 'reject'
  local votes = cjson.decode(redis.call('HGET', KEYS[1], 'votes'))
  table.insert(votes, vote)
  redis.call('HSET', KEYS[1], 'votes', cjson.encode(votes))
  finish('rejected', ARGV[2], ARGV[3], now)
  publish(ARGV[6], ARGV[7])
  return snapshot('decided')
end

vote.verdict = 'approve'
local votes = cjson.decode(redis.call('HGET', KEYS[1], 'votes'))
for _, earlier in ipairs(votes) do
  if earlier.verdict == 'approve' and voter_key(earlier) == voter_key(vote) then return snapshot('duplicate') end
end
table.insert(votes, vote)
redis.call('HSET', KEYS[1], 'votes', cjson.encode(votes))
if #votes < tonumber(redis.call('HGET', KEYS[1], 'min')) then
  publish(ARGV[6], ARGV[7])
  return snapshot('counted')
end
local names = {}
for i, v in ipairs(votes) do names[i] = v.by end
finish('approved', table.concat(names, ', '), ARGV[3], now)
publish(ARGV[6], ARGV[7])
return snapshot('decided')
