/**
 * The Lua scripts the Redis store runs. Each announce is one EVALSHA: Redis runs a script
 * atomically, so the checks (caps), the write and the peer selection see one state even with many
 * trackers announcing into the same swarm, and the tracker pays one round trip.
 *
 * Keys of one swarm (hash tag `{infohash}`, so they would share a cluster slot):
 *   P{h}:p  hash   peer key -> flags byte, compact length byte, compact entry, record JSON
 *   P{h}:s  zset   seeders, scored by last announce (ms)
 *   P{h}:l  zset   leechers (partial seeds included), scored the same way
 *   P{h}:m  hash   d = completed count, n = name, c = chunk count; exists while the swarm does
 *   P{h}:i  hash   address -> peers from it (loopback not counted)
 * and of the whole store: P`swarms` (zset infohash -> last announce) and P`totals` (hash: peers,
 * seeders), which /metrics reads without walking every swarm.
 *
 * Flags: 1 seeder, 2 upload only (seeder or BEP 21 partial seed), 4 completed counted.
 * Times are Redis's own clock (TIME) unless the caller passes one (the store suite's fake time).
 */

const COMMON = `
local function isloop(ip) return string.sub(ip, 1, 4) == '127.' or ip == '::1' end
local function clock(arg)
  local n = tonumber(arg)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ipof(key) return string.match(key, '@(.*)$') or '' end
local function drop(kp, ks, kl, ki, kt, key, val)
  local seeder = bit.band(string.byte(val, 1), 1) == 1
  redis.call('HDEL', kp, key)
  redis.call('ZREM', seeder and ks or kl, key)
  local ip = ipof(key)
  if not isloop(ip) and redis.call('HINCRBY', ki, ip, -1) <= 0 then redis.call('HDEL', ki, ip) end
  redis.call('HINCRBY', kt, 'peers', -1)
  if seeder then redis.call('HINCRBY', kt, 'seeders', -1) end
end
local function stats(ks, kl, km)
  local m = redis.call('HMGET', km, 'd', 'n', 'c')
  local known = 0
  if m[1] then known = 1 end
  return {redis.call('ZCARD', ks), redis.call('ZCARD', kl), tonumber(m[1]) or 0, m[2], m[3], known}
end
-- Up to limit fresh peers other than asker: a window at a random start over the fresh leechers and
-- then (unless onlyL) the fresh seeders, wrapping around. Each zset is ordered by last announce,
-- so its fresh peers are one run at its top. Returns key, score pairs.
local function pick(ks, kl, limit, asker, onlyL, fresh, rand)
  local nL, sL, nS, sS = redis.call('ZCARD', kl), 0, 0, 0
  if not onlyL then nS = redis.call('ZCARD', ks) end
  if fresh then
    sL = redis.call('ZCOUNT', kl, '-inf', '(' .. fresh)
    if not onlyL then sS = redis.call('ZCOUNT', ks, '-inf', '(' .. fresh) end
  end
  local fL, fS = nL - sL, nS - sS
  local total = fL + fS
  local want = math.min(limit + 1, total)
  local got = {}
  if want <= 0 then return got end
  local function take(a, b)
    if a < fL then
      local r = redis.call('ZRANGE', kl, sL + a, sL + math.min(b, fL) - 1, 'WITHSCORES')
      for i = 1, #r do got[#got + 1] = r[i] end
    end
    if b > fL then
      local r = redis.call('ZRANGE', ks, sS + math.max(a, fL) - fL, sS + b - fL - 1, 'WITHSCORES')
      for i = 1, #r do got[#got + 1] = r[i] end
    end
  end
  local start = math.floor(rand * total)
  if start >= total then start = total - 1 end
  local stop = start + want
  if stop <= total then take(start, stop) else take(start, total); take(0, stop - total) end
  local out = {}
  for i = 1, #got, 2 do
    if got[i] ~= asker and #out < limit * 2 then
      out[#out + 1] = got[i]
      out[#out + 1] = got[i + 1]
    end
  end
  return out
end
-- The peers part of an answer: 'c' gives the v4 and v6 compact entries joined, 'r' gives key,
-- value, score triples for whole records.
local function peers(kp, ks, kl, limit, asker, onlyL, now, stale, rand, mode)
  if mode == '' or limit <= 0 then return {} end
  local fresh = false
  if stale then fresh = now - stale end
  local got = pick(ks, kl, limit, asker, onlyL, fresh, rand)
  local vals = {}
  local keys = {}
  for i = 1, #got, 2 do keys[#keys + 1] = got[i] end
  for i = 1, #keys, 1000 do
    local r = redis.call('HMGET', kp, unpack(keys, i, math.min(i + 999, #keys)))
    for j = 1, #r do vals[#vals + 1] = r[j] end
  end
  if mode == 'c' then
    local v4, v6 = {}, {}
    for i = 1, #vals do
      local v = vals[i]
      if v then
        local n = string.byte(v, 2)
        local c = string.sub(v, 3, 2 + n)
        if n == 6 then v4[#v4 + 1] = c else v6[#v6 + 1] = c end
      end
    end
    return {table.concat(v4), table.concat(v6)}
  end
  local recs = {}
  for i = 1, #vals do
    if vals[i] then
      recs[#recs + 1] = keys[i]
      recs[#recs + 1] = vals[i]
      recs[#recs + 1] = got[2 * i]
    end
  end
  return recs
end
`;

/**
 * KEYS: p s l m i swarms totals. ARGV: infohash, peer key, now ('' = Redis's), event, seeder (1/0),
 * compact entry, record JSON, name ('=' + name, or ''), chunk count (''), max peers, max swarms,
 * max per address, peers wanted, mode ('', 'c', 'r'), random in [0,1), stale after ms ('' = never).
 * Returns {stats, now, peers}; a refused announce is an error reply `CSREFUSED <reason>`.
 */
export const ANNOUNCE_LUA = `${COMMON}
local kp, ks, kl, km, ki, kx, kt = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local ih, key, ev = ARGV[1], ARGV[2], ARGV[4]
local now = clock(ARGV[3])
local limit, mode, rand, stale = tonumber(ARGV[13]), ARGV[14], tonumber(ARGV[15]), tonumber(ARGV[16])
local old = redis.call('HGET', kp, key)
if ev == 'stopped' then
  if old then drop(kp, ks, kl, ki, kt, key, old) end
  return {stats(ks, kl, km), now, {}}
end
local known = redis.call('EXISTS', km) == 1
if not known and redis.call('ZCARD', kx) >= tonumber(ARGV[11]) then
  return redis.error_reply('CSREFUSED tracker is full: it tracks as many torrents as it can')
end
local ip = ipof(key)
local counted = not isloop(ip)
if not old then
  local maxPeers = tonumber(ARGV[10])
  if redis.call('ZCARD', ks) + redis.call('ZCARD', kl) >= maxPeers then
    return redis.error_reply('CSREFUSED swarm is full: ' .. ARGV[10] .. ' peers already')
  end
  local maxIp = tonumber(ARGV[12])
  if counted and (tonumber(redis.call('HGET', ki, ip)) or 0) >= maxIp then
    return redis.error_reply('CSREFUSED too many peers from ' .. ip .. ' in this swarm (at most ' .. ARGV[12] .. ' per address)')
  end
end
local seeder = ARGV[5] == '1'
local uploadOnly = seeder or ev == 'paused'
local oldflags = 0
if old then oldflags = string.byte(old, 1) end
local wasSeeder = bit.band(oldflags, 1) == 1
local wasCompleted = bit.band(oldflags, 4) == 4
local countCompleted = ev == 'completed' and not wasCompleted
local flags = 0
if seeder then flags = flags + 1 end
if uploadOnly then flags = flags + 2 end
if countCompleted or wasCompleted then flags = flags + 4 end
if not known then redis.call('HSET', km, 'd', 0) end
if countCompleted then redis.call('HINCRBY', km, 'd', 1) end
if ARGV[8] ~= '' then redis.call('HSETNX', km, 'n', string.sub(ARGV[8], 2)) end
if ARGV[9] ~= '' then redis.call('HSETNX', km, 'c', ARGV[9]) end
local compact = ARGV[6]
redis.call('HSET', kp, key, string.char(flags, #compact) .. compact .. ARGV[7])
if old and wasSeeder ~= seeder then redis.call('ZREM', wasSeeder and ks or kl, key) end
redis.call('ZADD', seeder and ks or kl, now, key)
local dseed = 0
if seeder then dseed = 1 end
if old then
  if wasSeeder then dseed = dseed - 1 end
else
  redis.call('HINCRBY', kt, 'peers', 1)
  if counted then redis.call('HINCRBY', ki, ip, 1) end
end
if dseed ~= 0 then redis.call('HINCRBY', kt, 'seeders', dseed) end
redis.call('ZADD', kx, now, ih)
return {stats(ks, kl, km), now, peers(kp, ks, kl, limit, key, uploadOnly, now, stale, rand, mode)}
`;

/**
 * KEYS: p s l. ARGV: peers wanted, asker's key ('' = none), now ('' = Redis's), stale after ms
 * ('' = never), random in [0,1), mode ('c' or 'r'). Returns the peers part as ANNOUNCE_LUA does.
 */
export const PEERS_LUA = `${COMMON}
local kp, ks, kl = KEYS[1], KEYS[2], KEYS[3]
local asker = ARGV[2]
local onlyL = false
if asker ~= '' then
  local v = redis.call('HGET', kp, asker)
  if v then onlyL = bit.band(string.byte(v, 1), 2) == 2 end
end
return peers(kp, ks, kl, tonumber(ARGV[1]), asker, onlyL, clock(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])
`;

/** KEYS: s l m of each swarm in turn. Returns one stats entry per swarm. */
export const STATS_LUA = `${COMMON}
local out = {}
for i = 1, #KEYS, 3 do out[#out + 1] = stats(KEYS[i], KEYS[i + 1], KEYS[i + 2]) end
return out
`;

/**
 * KEYS: swarms totals. ARGV: key prefix, cutoff (ms, or '' to take Redis's clock minus the age),
 * age (ms), then the infohashes to sweep. Removes peers last seen before the cutoff and swarms
 * left without peers; returns the peers removed. (The swarms' own keys are built here from the
 * prefix, which ties the store to one Redis, not a cluster: see docs/DEPLOY.md.)
 */
export const EXPIRE_LUA = `${COMMON}
local kx, kt, pre = KEYS[1], KEYS[2], ARGV[1]
local cutoff = tonumber(ARGV[2])
if not cutoff then cutoff = clock('') - tonumber(ARGV[3]) end
local removed = 0
for i = 4, #ARGV do
  local ih = ARGV[i]
  local b = pre .. '{' .. ih .. '}:'
  local kp, ks, kl, km, ki = b .. 'p', b .. 's', b .. 'l', b .. 'm', b .. 'i'
  for _, z in ipairs({ks, kl}) do
    local gone = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. cutoff)
    for j = 1, #gone do
      local v = redis.call('HGET', kp, gone[j])
      if v then drop(kp, ks, kl, ki, kt, gone[j], v) else redis.call('ZREM', z, gone[j]) end
      removed = removed + 1
    end
  end
  if redis.call('ZCARD', ks) + redis.call('ZCARD', kl) == 0 then
    redis.call('DEL', kp, ks, kl, km, ki)
    redis.call('ZREM', kx, ih)
  end
end
return removed
`;
