/**
 * A fleet of `chunkswarm tracker --redis` processes over one real redis-server on loopback: they
 * share swarms across transports, survive SIGKILL and a Redis restart without losing an answered
 * announce, and say "try again later" while Redis is gone. Needs Debian's redis-server.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { udpAnnounce } from '../../src/tracker/client/index.js';
import { parseAnnounceResponse } from '../../src/tracker/protocol/index.js';
import { STORE_UNAVAILABLE, startTracker } from '../../src/tracker/server/index.js';
import { RedisSwarmStore } from '../../src/tracker/server/redis-store.js';
import { TrackerWeb } from '../../src/web/tracker-web.js';
import type { TrackerState } from '../../src/web/types.js';
import { announceQuery, failureOf, hash, httpGet, peerId } from './helpers.js';
import { spawnTracker, type TrackerProcess } from './process-helpers.js';
import { type RedisServer, startRedis } from './redis-helpers.js';

const portsOf = (peers: readonly { port: number }[]) => peers.map((p) => p.port).sort((a, b) => a - b);

async function httpAnnounce(port: number, h: number, n: number, extra = '') {
  const r = await httpGet(
    '127.0.0.1',
    port,
    `/announce?${announceQuery(h, n, `&left=10&compact=1${extra}`)}`,
  );
  assert.equal(r.status, 200);
  return r.body;
}

/** Starts tracker processes over `redis`; they and Redis are stopped when the test ends. */
function fleetOn(t: TestContext, redis: RedisServer): (args: string[]) => Promise<TrackerProcess> {
  const procs: TrackerProcess[] = [];
  t.after(async () => {
    for (const p of procs) await p.stop();
    await redis.stop();
  });
  return async (args) => {
    const p = await spawnTracker(args);
    procs.push(p);
    return p;
  };
}

/** Peer `n` of swarm `h` announces over UDP (BEP 15) with `left` bytes to go. */
function udpPeer(port: number, h: number, n: number, left: number, event: 'started' | undefined) {
  return udpAnnounce(
    `udp://127.0.0.1:${port}/announce`,
    {
      infoHash: hash(h),
      peerId: peerId(n),
      port: 6000 + n,
      uploaded: 0,
      downloaded: 0,
      left,
      event,
      numwant: 50,
      key: n,
    },
    { timeoutMs: 10_000 },
  );
}

/** Retries `f` until it gives a value (bounded: `tries` times, `ms` apart). */
async function eventually<T>(f: () => Promise<T | undefined>, tries = 100, ms = 50): Promise<T | undefined> {
  for (let i = 0; i < tries; i++) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, ms));
  }
  return undefined;
}

describe('tracker fleet on Redis', () => {
  it('two trackers share a swarm: an HTTP peer on one and a UDP peer on the other see each other', async (t) => {
    const redis = await startRedis(t);
    if (!redis) return;
    const spawn = fleetOn(t, redis);
    const a = await spawn(['--redis', redis.url(1)]);
    const b = await spawn(['--redis', redis.url(1)]);
    assert.notEqual(a.port, b.port);

    const first = parseAnnounceResponse(await httpAnnounce(a.port, 1, 1));
    assert.deepEqual(first.peers, []);
    const viaUdp = await udpPeer(b.port, 1, 2, 0, 'started');
    assert.deepEqual(portsOf(viaUdp.peers), [6001], 'the UDP peer on B gets the HTTP peer from A');
    assert.equal(viaUdp.complete, 1);
    assert.equal(viaUdp.incomplete, 1);
    const again = parseAnnounceResponse(await httpAnnounce(a.port, 1, 1));
    assert.deepEqual(portsOf(again.peers), [6002], 'the HTTP peer on A gets the UDP peer from B');

    const metrics = (await httpGet('127.0.0.1', a.port, '/metrics')).body.toString();
    assert.match(metrics, /^chunkswarm_tracker_announces_total\{transport="http",result="ok"\} 2$/m);
    assert.match(metrics, /^chunkswarm_tracker_peers 2$/m);
    assert.match(metrics, /^chunkswarm_tracker_seeders 1$/m);
    assert.match(metrics, /^chunkswarm_tracker_store_up\{store="redis"\} 1$/m);
  });

  it('loses no answered announce to SIGKILL of the tracker and of Redis, and recovers from Redis going away', async (t) => {
    const redis = await startRedis(t, { durable: true });
    if (!redis) return;
    const spawn = fleetOn(t, redis);
    const a = await spawn(['--redis', redis.url()]);
    for (let n = 1; n <= 5; n++) {
      assert.equal(failureOf(await httpAnnounce(a.port, 2, n)), undefined);
    }
    // Answered means in Redis's append-only file (appendfsync always): kill both without warning.
    await a.stop();
    await redis.kill('SIGKILL');
    await redis.restart();
    const b = await spawn(['--redis', redis.url()]);
    const after = parseAnnounceResponse(await httpAnnounce(b.port, 2, 6, '&numwant=50'));
    assert.deepEqual(portsOf(after.peers), [6001, 6002, 6003, 6004, 6005]);
    assert.equal(after.incomplete, 6);

    // Redis goes away: a clear failure reason, and the tracker keeps running.
    await redis.kill('SIGKILL');
    assert.equal(failureOf(await httpAnnounce(b.port, 2, 7)), STORE_UNAVAILABLE);
    const down = (await httpGet('127.0.0.1', b.port, '/metrics')).body.toString();
    assert.match(down, /^chunkswarm_tracker_store_up\{store="redis"\} 0$/m);
    assert.match(down, /^chunkswarm_tracker_announces_total\{transport="http",result="unavailable"\} 1$/m);
    // It comes back: the tracker reconnects by itself (bounded wait) and nothing answered is lost.
    await redis.restart();
    const back = await eventually(async () => {
      const body = await httpAnnounce(b.port, 2, 7, '&numwant=50');
      return failureOf(body) === undefined ? parseAnnounceResponse(body) : undefined;
    });
    assert.ok(back, `tracker did not recover:\n${b.output()}`);
    assert.deepEqual(portsOf(back.peers), [6001, 6002, 6003, 6004, 6005, 6006]);
    assert.match(b.output(), /lost Redis/);
  });

  it('--workers 2 serves HTTP and UDP from two processes over Redis; without --redis it refuses', async (t) => {
    const refused = await spawnTracker(['--workers', '2']).then(
      (p) => p,
      (err: unknown) => err as Error,
    );
    assert.ok(refused instanceof Error, 'a memory store with --workers 2 must not start');
    assert.match(refused.message, /exited \(2\)[\s\S]*--workers 2 needs --redis/);

    const redis = await startRedis(t);
    if (!redis) return;
    const spawn = fleetOn(t, redis);
    const fleet = await spawn(['--redis', redis.url(), '--workers', '2']);
    // The first line is out; the rest follow it at once.
    await eventually(async () => (/tracker workers:/.test(fleet.output()) ? true : undefined));
    assert.match(fleet.output(), /tracker listening on udp:\/\/127\.0\.0\.1:\d+\/announce/);
    assert.match(fleet.output(), /tracker workers: 2 processes/);
    // Whichever worker takes each connection, its answer must see every earlier peer.
    for (let n = 1; n <= 10; n++) {
      const r = parseAnnounceResponse(await httpAnnounce(fleet.port, 3, n, '&numwant=50'));
      assert.equal(r.peers.length, n - 1);
    }
    // UDP connection ids are valid at every worker (a secret shared through Redis): repeat.
    for (let n = 11; n <= 14; n++) {
      const r = await udpPeer(fleet.port, 3, n, 1, undefined);
      assert.equal(r.peers.length, n - 1);
    }
    // /metrics, whichever worker serves it, counts what all workers answered.
    for (let i = 0; i < 3; i++) {
      const text = (await httpGet('127.0.0.1', fleet.port, '/metrics')).body.toString();
      assert.match(text, /^chunkswarm_tracker_announces_total\{transport="http",result="ok"\} 10$/m);
      assert.match(text, /^chunkswarm_tracker_announces_total\{transport="udp",result="ok"\} 4$/m);
      assert.match(text, /^chunkswarm_tracker_peers 14$/m);
    }
    // SIGTERM to the primary stops the workers and exits 0.
    fleet.child.kill('SIGTERM');
    assert.equal(await fleet.exited, 0);
  });

  it('the tracker page reads a Redis store: swarms, peers and the stats section', async (t) => {
    const redis = await startRedis(t);
    if (!redis) return;
    const store = await RedisSwarmStore.connect(redis.url());
    const tracker = await startTracker({ port: 0, udp: false, store });
    const web = new TrackerWeb(tracker);
    await web.start();
    t.after(async () => {
      web.close();
      await tracker.close();
      await store.close();
      await redis.stop();
    });
    await httpAnnounce(tracker.port, 4, 1, '&cs_name=page.iso');
    await httpAnnounce(tracker.port, 4, 2);
    const st = JSON.parse(
      (await httpGet('127.0.0.1', tracker.port, '/api/state')).body.toString(),
    ) as TrackerState;
    const sw = st.swarms.find((s) => s.infoHash === hash(4).toString('hex'));
    assert.ok(sw, JSON.stringify(st));
    assert.equal(sw.name, 'page.iso');
    assert.equal(sw.leechers, 2);
    assert.deepEqual(sw.peers.map((p) => p.address).sort(), ['127.0.0.1:6001', '127.0.0.1:6002']);
    assert.equal(st.stats?.store, 'redis');
    assert.equal(st.stats?.announcesHttp, 2);
    const stats = JSON.parse((await httpGet('127.0.0.1', tracker.port, '/stats')).body.toString());
    assert.equal(stats.store, 'redis');
    assert.equal(stats.announcesHttp, 2);
    assert.equal(stats.failed, 0);
  });
});
