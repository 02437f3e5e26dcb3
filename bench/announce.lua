-- bench/announce.lua: a wrk load of BitTorrent HTTP announces that look like a busy tracker's.
--
--   wrk -t2 -c64 -d10s -s bench/announce.lua http://127.0.0.1:PORT/announce -- SWARMS [PEERS] [NUMWANT]
--
-- SWARMS is a file of infohashes, 40 hex digits per line (also opentracker's whitelist). A fixed
-- population of PEERS peers (default 20000) is spread over those swarms; every request is a random
-- member of it, so most announces refresh a peer the tracker already knows and a few add one, and
-- the tracker's tables stop growing once everyone has been seen, like a real long-lived tracker.
-- Peer k belongs to swarm k mod #swarms, has a 20-byte peer id that encodes k, and a port derived
-- from k, so (address, port) is unique within its swarm even though every request comes from
-- 127.0.0.1.
--
-- Every request says "Connection: close": one TCP connection per announce is what real clients do.
-- At the end one line starting with BENCH_WRK carries the counts the harness reads.

local swarm_hashes = {}
local swarm_count = 0
local population = 20000
local numwant = 50
local prefix = "/announce?"

-- per-thread tallies, collected by done() through thread:get
answered = 0
not_ok = 0
refused = 0

local all_threads = {}
local thread_no = 0

function setup(thread)
  thread_no = thread_no + 1
  thread:set("thread_id", thread_no)
  all_threads[#all_threads + 1] = thread
end

-- BEP 3: info_hash is the raw 20 bytes, URL-escaped; keep unreserved bytes (RFC 3986) as they are.
local function escape_bytes(raw)
  return (raw:gsub("[^A-Za-z0-9%-%._~]", function(ch)
    return string.format("%%%02X", ch:byte())
  end))
end

local function unhex(hex)
  return (hex:gsub("..", function(pair) return string.char(tonumber(pair, 16)) end))
end

function init(args)
  local path = args[1] or error("announce.lua needs the swarms file after --")
  for line in io.lines(path) do
    local hex = line:match("^%s*(%x+)%s*$")
    if hex and #hex == 40 then
      swarm_count = swarm_count + 1
      swarm_hashes[swarm_count] = escape_bytes(unhex(hex))
    end
  end
  if swarm_count == 0 then error("no 40-hex infohash in " .. path) end
  population = tonumber(args[2] or "") or population
  numwant = tonumber(args[3] or "") or numwant
  wrk.headers["Connection"] = "close"
  if wrk.path:find("?", 1, true) then prefix = wrk.path .. "&" else prefix = wrk.path .. "?" end
  -- threads must not replay the same sequence
  math.randomseed(os.time() + 104729 * (thread_id or 0))
end

function request()
  local k = math.random(0, population - 1)
  local swarm = k % swarm_count
  local port = 10000 + math.floor(k / swarm_count) % 50000
  -- a quarter of the population are seeds
  local left = (k % 4 == 0) and 0 or 134217728
  local roll = math.random(1, 100)
  local event = ""
  if roll <= 5 then
    event = "&event=started"
  elseif roll == 6 then
    event = "&event=completed"
  elseif roll == 7 then
    event = "&event=stopped"
  end
  return wrk.format("GET", prefix
    .. "info_hash=" .. swarm_hashes[swarm + 1]
    .. "&peer_id=-BN0001-" .. string.format("%012d", k)
    .. "&port=" .. port
    .. "&uploaded=0&downloaded=0&left=" .. left
    .. "&compact=1&numwant=" .. numwant .. event)
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  elseif body:find("14:failure reason", 1, true) then
    refused = refused + 1
  else
    answered = answered + 1
  end
end

function done(summary, latency, requests)
  local ok, bad, fail = 0, 0, 0
  for _, t in ipairs(all_threads) do
    ok = ok + t:get("answered")
    bad = bad + t:get("not_ok")
    fail = fail + t:get("refused")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_WRK requests=%d ok=%d not_ok=%d refused=%d duration_s=%.3f "
      .. "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, ok, bad, fail, summary.duration / 1e6,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
