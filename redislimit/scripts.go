package redislimit

import "github.com/redis/go-redis/v9"

// takeScript takes one send from a group if every part of its budget allows it.
//
// KEYS: [1] the concurrency leases (zset member -> lease end, ms), [2] the pause (ms until),
// then one key per sliding window (zset member -> the time the call counts until: its lease
// end while in flight, its answer once answered), then one counter per fixed window.
// ARGV: [1] now ms, [2] member, [3] lease end ms, [4] concurrency (0: none), [5] sliding window
// count n, then n pairs (requests, per+margin ms), then [6+2n] fixed window count m, then m
// triples (requests, window end ms, key ttl ms).
// Returns {1, 0} when taken, or {0, retry_at_ms}: 0 when only a release can free room.
const takeLua = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local lease = tonumber(ARGV[3])
local conc = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local m = tonumber(ARGV[6 + 2*n])
local retry = now
local blocked = false
local release = false

local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then blocked = true; retry = math.max(retry, paused) end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if conc > 0 and redis.call('ZCARD', KEYS[1]) >= conc then
  return {0, 0}
end

for i = 1, n do
  local key = KEYS[2 + i]
  local requests = tonumber(ARGV[5 + 2*i - 1])
  local span = tonumber(ARGV[5 + 2*i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
  local used = redis.call('ZCARD', key)
  if used >= requests then
    blocked = true
    -- room comes back when the (used-requests+1)-th oldest entry ages out
    local e = redis.call('ZRANGE', key, used - requests, used - requests, 'WITHSCORES')
    local score = tonumber(e[2])
    if score > now then
      release = true -- still in flight: only its end frees room
    elseif score + span > retry then
      retry = score + span
    end
  end
end

for j = 1, m do
  local key = KEYS[2 + n + j]
  local base = 6 + 2*n + 3*(j-1)
  local requests = tonumber(ARGV[base + 1])
  local ends = tonumber(ARGV[base + 2])
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= requests then
    blocked = true
    if ends > retry then retry = ends end
  end
end

if release then return {0, 0} end
if blocked then return {0, retry} end

if conc > 0 then redis.call('ZADD', KEYS[1], lease, member) end
for i = 1, n do
  local key = KEYS[2 + i]
  redis.call('ZADD', key, lease, member)
  redis.call('PEXPIRE', key, lease - now + tonumber(ARGV[5 + 2*i]) + 1000)
end
if conc > 0 then redis.call('PEXPIRE', KEYS[1], lease - now + 1000) end
for j = 1, m do
  local key = KEYS[2 + n + j]
  local base = 6 + 2*n + 3*(j-1)
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, tonumber(ARGV[base + 3]))
end
return {1, 0}
`

// doneScript ends a call: its concurrency lease is freed and, in every sliding window, it
// counts until its answer (now) instead of its lease's end.
// KEYS: [1] concurrency leases, then the sliding windows. ARGV: [1] now ms, [2] member.
const doneLua = `
redis.call('ZREM', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', tonumber(ARGV[1]), ARGV[2])
end
return 1
`

// pauseLua pauses a group until ARGV[1] (ms) unless it is already paused longer.
// KEYS: [1] the pause. ARGV: [1] until ms, [2] now ms.
const pauseLua = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local untilms = tonumber(ARGV[1])
if untilms > cur then
  redis.call('SET', KEYS[1], untilms, 'PX', math.max(1, untilms - tonumber(ARGV[2])))
end
return 1
`

// scripts are loaded by their SHA (EVALSHA, falling back on EVAL once per Redis restart).
type scripts struct {
	take, done, pause *redis.Script
}

func newScripts() scripts {
	return scripts{take: redis.NewScript(takeLua), done: redis.NewScript(doneLua), pause: redis.NewScript(pauseLua)}
}
