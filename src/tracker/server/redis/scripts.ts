/**
 * The Lua scripts the Redis store runs. Each announce is one EVALSHA: Redis runs a script
 * atomically, so the checks (caps), the write and the peer selection see one state even with many
 * trackers announcing into the same swarm, and the tracker pays one round trip.
 *
 * Keys of one swarm (hash tag `{infohash}`, so they would share a cluster slot):
 *   P{h}:p  hash   peer key -> flags byte, compact length byte, compact entry, record JSON
 *   P{h}:s  zset   seeders, scored by last announce (ms)
 *   P{h}:l  zset   leechers (partial seeds included), scored the same way
 * A zset member is the compact entry's length byte, the compact entry, then the peer key: a
 * compact answer (most announces) is then read from the zsets alone, with no record touched.
 *   P{h}:m  hash   d = completed count, n = name, c = chunk count; exists while the swarm does
 *   P{h}:i  hash   address -> peers from it (loopback not counted)
 * and of the whole store: P`swarms` (zset infohash -> when it was first announced) and P`totals` (hash: peers,
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
-- The zset member of a peer, from its key and its stored record value.
local function memberof(key, val)
  local n = string.byte(val, 2)
  return string.sub(val, 2, 2 + n) .. key
end
local function keyof(member) return string.sub(member, 2 + string.byte(member, 1)) end
local function drop(kp, ks, kl, ki, kt, key, val)
  local seeder = bit.band(string.byte(val, 1), 1) == 1
  redis.call('HDEL', kp, key)
  redis.call('ZREM', seeder and ks or kl, memberof(key, val))
  local ip = ipof(key)
  if not isloop(ip) and redis.call('HINCRBY', ki, ip, -1) <= 0 then redis.call('HDEL', ki, ip) end
  redis.call('HINCRBY', kt, 'peers', -1)
  if seeder then redis.call('HINCRBY', kt, 'seeders', -1) end
  return seeder
end
local function stats(ks, kl, km)
  local m = redis.call('HMGET', km, 'd', 'n', 'c')
  local known = 0
  if m[1] then known = 1 end
  return {redis.call('ZCARD', ks), redis.call('ZCARD', kl), tonumber(m[1]) or 0, m[2], m[3], known}
end
-- Up to limit fresh peers other than the asker (its member): a window at a random start over the
-- fresh leechers and then (unless onlyL) the fresh seeders, wrapping around. Each zset is ordered
-- by last announce, so its fresh peers are one run at its top. nS and nL: the zsets' sizes.
-- Returns members, each followed by its score when withScores.
local function pick(ks, kl, nS, nL, limit, asker, onlyL, fresh, rand, withScores)
  local sL, sS = 0, 0
  if onlyL then nS = 0 end
  if fresh then
    if nL > 0 then sL = redis.call('ZCOUNT', kl, '-inf', '(' .. fresh) end
    if nS > 0 then sS = redis.call('ZCOUNT', ks, '-inf', '(' .. fresh) end
  end
  local fL, fS = nL - sL, nS - sS
  local total = fL + fS
  local want = math.min(limit + 1, total)
  local got = {}
  if want <= 0 then return got end
  local step = 1
  if withScores then step = 2 end
  local function range(z, from, to)
    local r
    if withScores then r = redis.call('ZRANGE', z, from, to, 'WITHSCORES') else r = redis.call('ZRANGE', z, from, to) end
    for i = 1, #r do got[#got + 1] = r[i] end
  end
  local function take(a, b)
    if a < fL then range(kl, sL + a, sL + math.min(b, fL) - 1) end
    if b > fL then range(ks, sS + math.max(a, fL) - fL, sS + b - fL - 1) end
  end
  local start = math.floor(rand * total)
  if start >= total then start = total - 1 end
  local stop = start + want
  if stop <= total then take(start, stop) else take(start, total); take(0, stop - total) end
  local out = {}
  for i = 1, #got, step do
    if got[i] ~= asker and #out < limit * step then
      out[#out + 1] = got[i]
      if withScores then out[#out + 1] = got[i + 1] end
    end
  end
  return out
end
-- The peers part of an answer: 'c' gives the v4 and v6 compact entries joined (read from the
-- members alone), 'r' gives key, record value, score triples.
local function peers(kp, ks, kl, nS, nL, limit, asker, onlyL, now, stale, rand, mode)
  if mode == '' or limit <= 0 then return {} end
  local fresh = false
  if stale then fresh = now - stale end
  if mode == 'c' then
    local got = pick(ks, kl, nS, nL, limit, asker, onlyL, fresh, rand, false)
    local v4, v6 = {}, {}
    for i = 1, #got do
      local m = got[i]
      local n = string.byte(m, 1)
      if n == 6 then v4[#v4 + 1] = string.sub(m, 2, 7) else v6[#v6 + 1] = string.sub(m, 2, 1 + n) end
    end
    return {table.concat(v4), table.concat(v6)}
  end
  local got = pick(ks, kl, nS, nL, limit, asker, onlyL, fresh, rand, true)
  local keys = {}
  for i = 1, #got, 2 do keys[#keys + 1] = keyof(got[i]) end
  local recs = {}
  for i = 1, #keys, 1000 do
    local r = redis.call('HMGET', kp, unpack(keys, i, math.min(i + 999, #keys)))
    for j = 1, #r do
      local k = i + j - 1
      if r[j] then
        recs[#recs + 1] = keys[k]
        recs[#recs + 1] = r[j]
        recs[#recs + 1] = got[2 * k]
      end
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
local meta = redis.call('HMGET', km, 'd', 'n', 'c')
local nS, nL = redis.call('ZCARD', ks), redis.call('ZCARD', kl)
local known = 0
if meta[1] then known = 1 end
if ev == 'stopped' then
  if old then
    if drop(kp, ks, kl, ki, kt, key, old) then nS = nS - 1 else nL = nL - 1 end
  end
  return {{nS, nL, tonumber(meta[1]) or 0, meta[2], meta[3], known}, now, {}}
end
if known == 0 and redis.call('ZCARD', kx) >= tonumber(ARGV[11]) then
  return redis.error_reply('CSREFUSED tracker is full: it tracks as many torrents as it can')
end
local ip = ipof(key)
local counted = not isloop(ip)
if not old then
  if nS + nL >= tonumber(ARGV[10]) then
    return redis.error_reply('CSREFUSED swarm is full: ' .. ARGV[10] .. ' peers already')
  end
  if counted and (tonumber(redis.call('HGET', ki, ip)) or 0) >= tonumber(ARGV[12]) then
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
local downloaded = tonumber(meta[1]) or 0
if known == 0 then redis.call('HSET', km, 'd', 0) end
if countCompleted then downloaded = redis.call('HINCRBY', km, 'd', 1) end
local name, pieces = meta[2], meta[3]
if not name and ARGV[8] ~= '' then
  name = string.sub(ARGV[8], 2)
  redis.call('HSET', km, 'n', name)
end
if not pieces and ARGV[9] ~= '' then
  pieces = ARGV[9]
  redis.call('HSET', km, 'c', pieces)
end
local compact = ARGV[6]
local val = string.char(flags, #compact) .. compact .. ARGV[7]
local member = memberof(key, val)
redis.call('HSET', kp, key, val)
if old then
  local oldmember = memberof(key, old)
  if wasSeeder ~= seeder or oldmember ~= member then redis.call('ZREM', wasSeeder and ks or kl, oldmember) end
  if wasSeeder then nS = nS - 1 else nL = nL - 1 end
else
  redis.call('HINCRBY', kt, 'peers', 1)
  if counted then redis.call('HINCRBY', ki, ip, 1) end
end
redis.call('ZADD', seeder and ks or kl, now, member)
if seeder then nS = nS + 1 else nL = nL + 1 end
local dseed = 0
if seeder then dseed = 1 end
if wasSeeder then dseed = dseed - 1 end
if dseed ~= 0 then redis.call('HINCRBY', kt, 'seeders', dseed) end
if known == 0 then redis.call('ZADD', kx, now, ih) end
return {{nS, nL, downloaded, name or false, pieces or false, 1}, now, peers(kp, ks, kl, nS, nL, limit, member, uploadOnly, now, stale, rand, mode)}
`;

/**
 * KEYS: p s l. ARGV: peers wanted, asker's key ('' = none), now ('' = Redis's), stale after ms
 * ('' = never), random in [0,1), mode ('c' or 'r'). Returns the peers part as ANNOUNCE_LUA does.
 */
export const PEERS_LUA = `${COMMON}
local kp, ks, kl = KEYS[1], KEYS[2], KEYS[3]
local asker = false
local onlyL = false
if ARGV[2] ~= '' then
  local v = redis.call('HGET', kp, ARGV[2])
  if v then
    onlyL = bit.band(string.byte(v, 1), 2) == 2
    asker = memberof(ARGV[2], v)
  end
end
local nS, nL = redis.call('ZCARD', ks), redis.call('ZCARD', kl)
return peers(kp, ks, kl, nS, nL, tonumber(ARGV[1]), asker, onlyL, clock(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])
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
      local key = keyof(gone[j])
      local v = redis.call('HGET', kp, key)
      if v and memberof(key, v) == gone[j] then drop(kp, ks, kl, ki, kt, key, v) else redis.call('ZREM', z, gone[j]) end
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
