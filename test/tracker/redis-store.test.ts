import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { MemorySwarmStore } from '../../src/tracker/server/index.js';
import { parseRedisUrl } from '../../src/tracker/server/redis/client.js';
import { RedisSwarmStore } from '../../src/tracker/server/redis-store.js';
import { STORE_UNAVAILABLE } from '../../src/tracker/server/store.js';
import { type RedisServer, startRedis } from './redis-helpers.js';
import { H, ports, rec, swarmStoreSuite } from './store-suite.js';

let redis: RedisServer | undefined;
let started = false;
let stores = 0;
const open: RedisSwarmStore[] = [];

/** One redis-server for the file, started by the first test that needs it. */
async function server(t: TestContext): Promise<RedisServer | undefined> {
  if (!started) {
    started = true;
    redis = await startRedis(t);
  }
  if (!redis) await startRedis(t);
  return redis;
}

after(async () => {
  for (const s of open) await s.close().catch(() => {});
  await redis?.stop();
});

// Each store gets its own key prefix: the suite's stores never see each other's swarms. The suite
// drives time itself, so these stores take the caller's clock.
swarmStoreSuite('RedisSwarmStore', async (t, opts) => {
  const r = await server(t);
  if (!r) return undefined;
  const s = await RedisSwarmStore.connect(r.url(), { ...opts, prefix: `suite${++stores}:`, clock: 'caller' });
  open.push(s);
  return s;
});

describe('RedisSwarmStore', () => {
  it('announces in one step: records, picks and counts, compact or whole', async (t) => {
    const r = await server(t);
    if (!r) return;
    const s = await RedisSwarmStore.connect(r.url(), { prefix: 'x1:' });
    open.push(s);
    for (let n = 1; n <= 5; n++) await s.announce(H, rec(n, { left: n === 1 ? 0 : 9 }), 'started', 0);
    const compact = await s.exchange(H, rec(6), 'started', 0, 50, true);
    assert.equal(compact.stats.complete, 1);
    assert.equal(compact.stats.incomplete, 5);
    assert.equal(compact.packed!.v4.length, 5 * 6);
    assert.deepEqual(compact.peers, []);
    const whole = await s.exchange(H, rec(6), undefined, 0, 3, false);
    assert.equal(whole.packed, undefined);
    assert.equal(whole.peers.length, 3);
    assert.ok(!ports(whole.peers).includes(6006));
    const stopped = await s.exchange(H, rec(6), 'stopped', 0, 50, true);
    assert.equal(stopped.stats.incomplete, 4);
    assert.deepEqual(await s.totals(), { swarms: 1, peers: 5, seeders: 1 });
    assert.deepEqual(await s.statsMany([H, '00'.repeat(20)]), [
      { complete: 1, incomplete: 4, downloaded: 0, name: undefined, pieces: undefined },
      { complete: 0, incomplete: 0, downloaded: 0 },
    ]);
  });

  it("keeps a chunkswarm peer's cs_rates with its record, for the page's swarm graph", async (t) => {
    const r = await server(t);
    if (!r) return;
    const s = await RedisSwarmStore.connect(r.url(), { prefix: 'rates:' });
    open.push(s);
    const rates = [
      { ip: '10.0.0.2', port: 6002, down: 1234, up: 5 },
      { ip: '2001:db8::1', port: 7001, down: 0, up: 99 },
    ];
    await s.announce(H, { ...rec(1), rates }, 'started', 0);
    await s.announce(H, rec(2), 'started', 0);
    const peers = await s.peers(H, 10, undefined, Date.now());
    assert.deepEqual(peers.find((p) => p.port === 6001)?.rates, rates);
    assert.equal(peers.find((p) => p.port === 6002)?.rates, undefined);
  });

  it("stamps peers with Redis's clock, whatever time the tracker passes", async (t) => {
    const r = await server(t);
    if (!r) return;
    const s = await RedisSwarmStore.connect(r.url(), { prefix: 'x2:' });
    open.push(s);
    const [sec] = (await s.client.send(['TIME'])) as Buffer[];
    const redisNow = Number(sec!.toString()) * 1000;
    await s.announce(H, rec(1), undefined, 5);
    const [p] = await s.peers(H, 10, undefined, 5);
    assert.ok(Math.abs(p!.lastSeen - redisNow) < 60_000, `lastSeen ${p!.lastSeen} vs Redis ${redisNow}`);
    // An age measured from our clock expires by Redis's: nothing is a day old yet.
    assert.equal(await s.expire(Date.now() - 86_400_000), 0);
    assert.equal(await s.expire(Date.now() + 60_000), 1);
  });

  it('sweeps once per period across every tracker sharing the store', async (t) => {
    const r = await server(t);
    if (!r) return;
    const opts = { prefix: 'x4:', clock: 'caller' as const, sweepEveryMs: 60_000 };
    const a = await RedisSwarmStore.connect(r.url(), opts);
    const b = await RedisSwarmStore.connect(r.url(), opts);
    open.push(a, b);
    await a.announce(H, rec(1), undefined, 10);
    await a.announce(H, rec(2), undefined, 10);
    assert.equal(await a.expire(100), 2);
    await b.announce(H, rec(3), undefined, 10);
    assert.equal(await b.expire(100), 0, 'the other tracker swept a moment ago');
    assert.equal(await a.expire(100), 0);
    assert.deepEqual(ports(await b.peers(H, 10, undefined, 10)), [6003]);
  });

  it('answers "store unavailable" while Redis is gone and recovers by itself', async (t) => {
    const own = await startRedis(t);
    if (!own) return;
    t.after(() => own.stop());
    const s = await RedisSwarmStore.connect(own.url(), {
      prefix: 'x3:',
      client: { reconnectMinMs: 20, reconnectMaxMs: 100 },
    });
    t.after(() => s.close());
    await s.announce(H, rec(1), undefined, 0);
    await own.kill();
    await assert.rejects(
      async () => s.exchange(H, rec(2), undefined, 0, 50, true),
      (e: unknown) => isChunkswarmError(e, 'ETRACKER_FAILURE') && e.message === STORE_UNAVAILABLE,
    );
    await own.restart();
    // Bounded wait for the background reconnection (its backoff is at most 100 ms here).
    let answer: Awaited<ReturnType<typeof s.exchange>> | undefined;
    for (let i = 0; i < 100 && answer === undefined; i++) {
      answer = await s.exchange(H, rec(2), undefined, 0, 50, true).catch(() => undefined);
      if (answer === undefined) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(answer, 'the store reconnected');
    // Not durable here: the restarted Redis is empty, and the swarm starts again from this peer.
    assert.equal(answer.stats.incomplete, 1);
  });

  it('fails to start with a one-line reason when Redis is not there', async (t) => {
    const r = await server(t);
    if (!r) return;
    await assert.rejects(
      RedisSwarmStore.connect('redis://127.0.0.1:1/0'),
      (e: unknown) =>
        isChunkswarmError(e, 'ETRACKER_UNREACHABLE') &&
        /cannot reach Redis at 127\.0\.0\.1:1/.test(e.message),
    );
  });
});

describe('RedisSwarmStore against MemorySwarmStore (model)', () => {
  it('random announces, stops and expiries leave both stores alike', async (t) => {
    const r = await server(t);
    if (!r) return;
    const hashes = ['aa'.repeat(20), 'bb'.repeat(20), 'cc'.repeat(20)];
    const ips = ['10.0.0.1', '2001:db8::1', '127.0.0.1'];
    const events = [undefined, 'started', 'completed', 'stopped', 'paused'] as const;
    const op = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('announce' as const),
          h: fc.nat(2),
          n: fc.nat(4),
          ip: fc.nat(2),
          left: fc.constantFrom(0, 5, undefined),
          port: fc.constantFrom(1, 2),
          event: fc.constantFrom(...events),
          dt: fc.nat(30),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), age: fc.nat(60) }) },
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const caps = { maxPeersPerSwarm: 5, maxSwarms: 2, maxPeersPerIp: 2, staleAfterMs: 40 };
        const mem = new MemorySwarmStore(caps);
        const red = await RedisSwarmStore.connect(r.url(), {
          ...caps,
          prefix: `model${++run}:`,
          clock: 'caller',
        });
        try {
          let now = 100;
          const outcome = async (f: () => unknown) => {
            try {
              await f();
              return 'ok';
            } catch (e) {
              return isChunkswarmError(e, 'ETRACKER_FAILURE') ? e.message : `unexpected ${String(e)}`;
            }
          };
          const view = async (s: MemorySwarmStore | RedisSwarmStore) => {
            const out: unknown[] = [(await s.swarms()).sort(), await s.totals()];
            for (const h of hashes) {
              const ps = await s.peers(h, 1000, undefined, now);
              out.push(await s.stats(h), ps.map((p) => `${p.key}:${p.port}:${p.left}:${p.lastSeen}`).sort());
            }
            return out;
          };
          for (const o of ops) {
            if (o.kind === 'announce') {
              now += o.dt;
              const peer = rec(o.n, { ip: ips[o.ip]!, left: o.left, port: 7000 + o.port });
              const a = await outcome(() => mem.announce(hashes[o.h]!, peer, o.event, now));
              const b = await outcome(() => red.announce(hashes[o.h]!, peer, o.event, now));
              assert.equal(b, a);
              assert.deepEqual(await red.stats(hashes[o.h]!), mem.stats(hashes[o.h]!));
            } else {
              assert.equal(await red.expire(now - o.age), mem.expire(now - o.age));
            }
          }
          assert.deepEqual(await view(red), await view(mem));
        } finally {
          await red.close();
        }
      }),
      { numRuns: Math.max(20, Math.floor(Number(process.env.FUZZ_RUNS ?? 2000) / 20)) },
    );
  });
});

describe('parseRedisUrl', () => {
  it('reads host, port, database and credentials, and refuses what is not a redis:// URL', () => {
    assert.deepEqual(parseRedisUrl('redis://10.0.0.5:6380/3'), {
      host: '10.0.0.5',
      port: 6380,
      db: 3,
      username: undefined,
      password: undefined,
    });
    assert.deepEqual(parseRedisUrl('redis://:s%40cret@[::1]'), {
      host: '::1',
      port: 6379,
      db: 0,
      username: undefined,
      password: 's@cret',
    });
    assert.equal(parseRedisUrl('redis://u:p@h/0').username, 'u');
    for (const bad of ['http://h:1/0', 'redis://h/x', 'nonsense', 'rediss://h/0']) {
      assert.throws(
        () => parseRedisUrl(bad),
        (e: unknown) => isChunkswarmError(e, 'EUSAGE'),
        bad,
      );
    }
  });
});
