package redisbus

import "github.com/redis/go-redis/v9"

// Every membership change runs as one Lua script: Redis runs scripts one at
// a time, so the change, the room's sequence number and the PUBLISH of its
// event are atomic, and every subscriber sees the room's events in seq
// order. Published messages are "seq\ntype\nuid\nreason\nframe".
//
// Keys of a room (KEYS order shared by the scripts):
//   1 members  hash uid -> member JSON {"uid","name","joined_at"}
//   2 state    hash uid -> "attached|idle_since_ms"
//   3 seq      string, the room's last sequence number
//   4 orgrooms set of the organization's rooms with members
//   5 rooms    set of every room with members ("org:room"), for the reaper
//   6 conns    hash "uid|node" -> open sockets of uid on node

//
// Every script takes as its last ARGV the time in milliseconds an empty
// room's sequence number is kept (0: for good). A room with no member and
// no open socket leaves nothing else behind (Redis drops empty hashes, the
// scripts remove it from the sets); its sequence number stays a while so a
// node whose socket is still closing never sees it step back, then expires.
// A room in use has no expiry on its sequence number.

// publishLua is shared by the scripts; it numbers and publishes one event.
const publishLua = `
local function settle(seqkey, members, conns)
  if redis.call('HLEN', members) == 0 and redis.call('HLEN', conns) == 0 then
    local ttl = tonumber(ARGV[#ARGV])
    if ttl > 0 then redis.call('PEXPIRE', seqkey, ttl) end
  else
    redis.call('PERSIST', seqkey)
  end
end
local function publish(seqkey, chan, meta, head, tail)
  local s = redis.call('INCR', seqkey)
  redis.call('PUBLISH', chan, s .. '\n' .. meta .. '\n' .. head .. s .. tail)
  return s
end
local function hasSockets(conns, uid)
  local prefix = uid .. '|'
  for _, f in ipairs(redis.call('HKEYS', conns)) do
    if string.sub(f, 1, #prefix) == prefix then return true end
  end
  return false
end
local function dropSockets(conns, uid)
  local prefix = uid .. '|'
  for _, f in ipairs(redis.call('HKEYS', conns)) do
    if string.sub(f, 1, #prefix) == prefix then redis.call('HDEL', conns, f) end
  end
end
`

// ARGV: uid, expected current JSON ("" = absent), new JSON, max members,
// max rooms, room name, room id, now ms, chan, meta, head, tail.
// Returns seq, or -1 (lost a race: retry), -2 (room full), -3 (too many rooms).
var joinScript = redis.NewScript(publishLua + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return -1 end
if not cur then
  local n = redis.call('HLEN', KEYS[1])
  if tonumber(ARGV[4]) > 0 and n >= tonumber(ARGV[4]) then return -2 end
  if n == 0 then
    if tonumber(ARGV[5]) > 0 and redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[5]) then return -3 end
    redis.call('SADD', KEYS[4], ARGV[6])
    redis.call('SADD', KEYS[5], ARGV[7])
  end
  redis.call('HSET', KEYS[2], ARGV[1], '0|' .. ARGV[8])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local seq = publish(KEYS[3], ARGV[9], ARGV[10], ARGV[11], ARGV[12])
settle(KEYS[3], KEYS[1], KEYS[6])
return seq
`)

// ARGV: uid, room name, room id, chan, meta, head, tail. Returns seq, or 0
// when uid was not a member.
var leaveScript = redis.NewScript(publishLua + `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
dropSockets(KEYS[6], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('SREM', KEYS[5], ARGV[3])
end
local seq = publish(KEYS[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
settle(KEYS[3], KEYS[1], KEYS[6])
return seq
`)

// ARGV: uid, node. Returns 1, or 0 when uid is not a member.
var attachScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[6], ARGV[1] .. '|' .. ARGV[2], 1)
redis.call('HSET', KEYS[2], ARGV[1], '1|0')
redis.call('PERSIST', KEYS[3])
return 1
`)

// ARGV: uid, node, now ms.
var detachScript = redis.NewScript(publishLua + `
local f = ARGV[1] .. '|' .. ARGV[2]
if redis.call('HEXISTS', KEYS[6], f) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[6], f, -1) <= 0 then redis.call('HDEL', KEYS[6], f) end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 and not hasSockets(KEYS[6], ARGV[1]) then
  redis.call('HSET', KEYS[2], ARGV[1], '1|' .. ARGV[3])
end
settle(KEYS[3], KEYS[1], KEYS[6])
return 1
`)

// Returns {seq, member JSON...}.
var snapshotScript = redis.NewScript(`
local out = {redis.call('GET', KEYS[3]) or '0'}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do table.insert(out, v) end
return out
`)

// reapScript removes, in one room, the members whose sockets were all on
// dead nodes (reason expired, at once) and those without a socket for the
// grace period (disconnected, or expired if none was ever open), publishing
// one leave each. Several nodes may run it at once: each removal happens in
// exactly one run.
// KEYS 7: nodes zset node -> last heartbeat ms.
// ARGV: now ms, grace ms, node ttl ms, room name, room id, chan, head.
// Returns a flat list uid, reason, uid, reason...
var reapScript = redis.NewScript(publishLua + `
local now, grace, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local alive, lostSocket = {}, {}
for _, f in ipairs(redis.call('HKEYS', KEYS[6])) do
  local sep = string.find(f, '|', 1, true)
  local uid, node = string.sub(f, 1, sep - 1), string.sub(f, sep + 1)
  if alive[node] == nil then
    -- A node with no heartbeat at all is unknown, not dead: Redis lost its
    -- data (a restart) and the node has not beaten since. Dead nodes keep
    -- their last score.
    local hb = redis.call('ZSCORE', KEYS[7], node)
    alive[node] = (not hb) or tonumber(hb) >= now - ttl
  end
  if not alive[node] then
    redis.call('HDEL', KEYS[6], f)
    lostSocket[uid] = true
  end
end
local out = {}
for _, uid in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not hasSockets(KEYS[6], uid) then
    local reason = nil
    if lostSocket[uid] then
      reason = 'expired'
    else
      local st = redis.call('HGET', KEYS[2], uid) or '0|0'
      local sep = string.find(st, '|', 1, true)
      local attached, idle = string.sub(st, 1, sep - 1), tonumber(string.sub(st, sep + 1))
      if now - idle >= grace then
        if attached == '1' then reason = 'disconnected' else reason = 'expired' end
      end
    end
    if reason then
      redis.call('HDEL', KEYS[1], uid)
      redis.call('HDEL', KEYS[2], uid)
      local tail = ',"uid":' .. uid .. ',"reason":"' .. reason .. '"}'
      publish(KEYS[3], ARGV[6], 'leave\n' .. uid .. '\n' .. reason, ARGV[7], tail)
      table.insert(out, uid)
      table.insert(out, reason)
    end
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[4])
  redis.call('SREM', KEYS[5], ARGV[5])
end
settle(KEYS[3], KEYS[1], KEYS[6])
return out
`)

// publishScript numbers and publishes a message with no membership change.
// KEYS: the room's keys. ARGV: chan, meta, head, tail.
var publishScript = redis.NewScript(publishLua + `
local seq = publish(KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
settle(KEYS[3], KEYS[1], KEYS[6])
return seq
`)
