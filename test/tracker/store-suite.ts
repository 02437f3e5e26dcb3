/**
 * The behaviour every store must have, run against each implementation (store.test.ts for memory,
 * sqlite-store.test.ts for SQLite, redis-store.test.ts for Redis): they must be indistinguishable
 * to the tracker. Every call is awaited, so synchronous and asynchronous stores run the same code.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { compactEntry } from '../../src/tracker/protocol/index.js';
import {
  type AnySwarmStore,
  type MemorySwarmStoreOptions,
  type PeerRecord,
  peerKey,
} from '../../src/tracker/server/index.js';
import { peerId } from './helpers.js';

/** A fresh, empty store; undefined when the test was skipped (a missing package). */
export type StoreFactory = (
  t: TestContext,
  opts?: Omit<MemorySwarmStoreOptions, 'journal'>,
) => AnySwarmStore | undefined | Promise<AnySwarmStore | undefined>;

export const H = 'ab'.repeat(20);

export function rec(n: number, extra: Partial<PeerRecord> = {}): PeerRecord {
  const id = peerId(n);
  const ip = extra.ip ?? '127.0.0.1';
  return {
    key: peerKey(id, ip),
    ip,
    port: 6000 + n,
    peerId: id,
    uploaded: 0,
    downloaded: 0,
    left: 10,
    lastSeen: 0,
    ...extra,
  };
}

export const ports = (rs: PeerRecord[]) => rs.map((r) => r.port).sort((a, b) => a - b);

export function swarmStoreSuite(name: string, make: StoreFactory): void {
  describe(`${name}: SwarmStore behaviour`, () => {
    it('keys peers by peer id and address', async (t) => {
      assert.equal(peerKey(Buffer.alloc(20, 0xab), '::1'), `${'ab'.repeat(20)}@::1`);
      const s = await make(t);
      if (!s) return;
      await s.announce(H, rec(1), 'started', 1);
      // Same peer id, another address: another peer (it cannot move or stop the first).
      await s.announce(H, rec(1, { ip: '10.0.0.9' }), 'stopped', 2);
      assert.equal((await s.stats(H)).incomplete, 1);
      await s.close();
    });

    it('tracks seeder/leecher counts through updates, and counts completed once per peer', async (t) => {
      const s = await make(t);
      if (!s) return;
      await s.announce(H, rec(1), 'started', 1);
      await s.announce(H, rec(2, { left: 0 }), 'started', 1);
      await s.announce(H, rec(3, { left: undefined, have: 4, pieces: 4 }), undefined, 1);
      assert.deepEqual(await s.stats(H), {
        complete: 2,
        incomplete: 1,
        downloaded: 0,
        name: undefined,
        pieces: 4,
      });
      await s.announce(H, rec(1, { left: 0 }), 'completed', 2);
      await s.announce(H, rec(1, { left: 0 }), 'completed', 3);
      assert.equal((await s.stats(H)).downloaded, 1);
      assert.equal((await s.stats(H)).complete, 3);
      // Back to leecher (data deleted and re-downloading): the counts follow.
      await s.announce(H, rec(1, { left: 5 }), undefined, 4);
      assert.equal((await s.stats(H)).complete, 2);
      await s.announce(H, rec(2, { left: 0 }), 'stopped', 5);
      assert.deepEqual(await s.stats(H), {
        complete: 1,
        incomplete: 1,
        downloaded: 1,
        name: undefined,
        pieces: 4,
      });
      await s.announce(H, rec(9), 'stopped', 5);
      assert.equal((await s.stats(H)).incomplete, 1, 'stopping an unknown peer changes nothing');
      assert.deepEqual(await s.stats('00'.repeat(20)), { complete: 0, incomplete: 0, downloaded: 0 });
      await s.close();
    });

    it('keeps the lastSeen of the announce and every field of the record', async (t) => {
      const s = await make(t);
      if (!s) return;
      const bits = Buffer.from([0b1010_0000]);
      await s.announce(
        H,
        rec(1, { lastSeen: 5, bitfield: bits, have: 2, pieces: 4, name: 'x', uploaded: 7 }),
        undefined,
        42,
      );
      const [got] = await s.peers(H, 10, undefined, 42);
      assert.equal(got!.lastSeen, 42);
      assert.deepEqual(got!.bitfield, bits);
      assert.equal(got!.have, 2);
      assert.equal(got!.uploaded, 7);
      assert.equal(got!.name, 'x');
      assert.deepEqual(got!.peerId, peerId(1));
      await s.close();
    });

    it('hands out a varying selection, never the asker, and only leechers to seeders and partial seeds', async (t) => {
      const s = await make(t);
      if (!s) return;
      for (let n = 1; n <= 20; n++) await s.announce(H, rec(n, { left: n <= 5 ? 0 : 10 }), undefined, 1);
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const got: PeerRecord[] = await s.peers(H, 3, rec(20).key, 1);
        assert.equal(got.length, 3);
        for (const p of got) seen.add(p.port);
      }
      assert.equal(seen.size, 19, 'every other peer comes up sooner or later');
      assert.ok(!seen.has(6020));
      const forSeeder = await s.peers(H, 50, rec(1).key, 1);
      assert.deepEqual(
        ports(forSeeder),
        Array.from({ length: 15 }, (_, i) => 6006 + i),
      );
      // BEP 21: a partial seed (paused) gets no seeders either.
      await s.announce(H, rec(20), 'paused', 1);
      assert.equal((await s.peers(H, 50, rec(20).key, 1)).length, 14);
      await s.announce(H, rec(20), undefined, 1);
      assert.equal((await s.peers(H, 50, rec(20).key, 1)).length, 19);
      assert.deepEqual(await s.peers(H, 0, undefined, 1), []);
      assert.deepEqual(await s.peers('00'.repeat(20), 5, undefined, 1), []);
      await s.close();
    });

    it('expires old peers and empty swarms, keeping its index consistent', async (t) => {
      const s = await make(t, { staleAfterMs: 100 });
      if (!s) return;
      for (let n = 1; n <= 10; n++) await s.announce(H, rec(n), undefined, n % 2 === 0 ? 1000 : 10);
      await s.announce('cd'.repeat(20), rec(1), undefined, 10);
      assert.equal(ports(await s.peers(H, 50, undefined, 1050)).length, 5, 'stale peers are not handed out');
      assert.equal(await s.expire(500), 6);
      assert.deepEqual(await s.swarms(), [H]);
      assert.deepEqual(ports(await s.peers(H, 50, undefined, 1000)), [6002, 6004, 6006, 6008, 6010]);
      // Removal after swap-removal still finds the right entries.
      await s.announce(H, rec(4), 'stopped', 1001);
      await s.announce(H, rec(10), 'stopped', 1001);
      assert.deepEqual(ports(await s.peers(H, 50, undefined, 1001)), [6002, 6006, 6008]);
      assert.equal((await s.stats(H)).incomplete, 3);
      await s.close();
    });

    it('names a swarm after the first peer that gives a name', async (t) => {
      const s = await make(t);
      if (!s) return;
      await s.announce(H, rec(1, { name: 'first.iso', pieces: 4 }), undefined, 1);
      await s.announce(H, rec(2, { name: 'second.iso', pieces: 9 }), undefined, 1);
      assert.equal((await s.stats(H)).name, 'first.iso');
      assert.equal((await s.stats(H)).pieces, 4);
      await s.close();
    });

    it('refuses peers and swarms beyond its caps with ETRACKER_FAILURE', async (t) => {
      const s = await make(t, { maxPeersPerSwarm: 1, maxSwarms: 1 });
      if (!s) return;
      await s.announce(H, rec(1), undefined, 1);
      await assert.rejects(
        async () => s.announce(H, rec(2), undefined, 1),
        (e: unknown) => isChunkswarmError(e, 'ETRACKER_FAILURE'),
      );
      await assert.rejects(async () => s.announce('cd'.repeat(20), rec(1), undefined, 1), /tracker is full/);
      // A stop for an unknown swarm is no new swarm.
      await s.announce('cd'.repeat(20), rec(1), 'stopped', 1);
      assert.deepEqual(await s.swarms(), [H]);
      assert.deepEqual(ports(await s.peers(H, 9, undefined, 1)), [6001]);
      await s.close();
    });

    it('packs the same selection as compact entries', async (t) => {
      const s = await make(t, { staleAfterMs: 100 });
      if (!s) return;
      const compactOf = (r: PeerRecord) => compactEntry(r.ip, r.port).toString('hex');
      const ipOf = (n: number) => (n % 3 === 0 ? `2001:db8::${n}` : `10.0.${n % 7}.${n}`);
      for (let n = 1; n <= 30; n++) {
        await s.announce(H, rec(n, { ip: ipOf(n), left: n % 4 === 0 ? 0 : 5 }), undefined, n <= 3 ? 1 : 500);
      }
      // Moves, leaves, expiry and a seeder turning leecher, so slots are swapped and rewritten.
      await s.announce(H, rec(5, { ip: ipOf(5), port: 9999 }), undefined, 500);
      await s.announce(H, rec(6, { ip: ipOf(6) }), 'stopped', 500);
      await s.announce(H, rec(8, { ip: ipOf(8), left: 3 }), undefined, 500);
      assert.equal(await s.expire(100), 3);
      await s.announce(H, rec(31, { ip: ipOf(31) }), 'paused', 550);
      const split = (c: { v4: Buffer; v6: Buffer }) => [
        ...Array.from({ length: c.v4.length / 6 }, (_, i) => c.v4.subarray(i * 6, i * 6 + 6).toString('hex')),
        ...Array.from({ length: c.v6.length / 18 }, (_, i) =>
          c.v6.subarray(i * 18, i * 18 + 18).toString('hex'),
        ),
      ];
      for (const asker of [
        undefined,
        rec(7, { ip: ipOf(7) }).key,
        rec(12, { ip: ipOf(12) }).key,
        rec(31, { ip: ipOf(31) }).key,
      ]) {
        for (const now of [550, 650]) {
          const want = (await s.peers(H, 100, asker, now)).map(compactOf).sort();
          const got = split(await s.compactPeers!(H, 100, asker, now));
          assert.deepEqual([...got].sort(), want, `asker ${asker?.slice(-20)} at ${now}`);
          const few = split(await s.compactPeers!(H, 5, asker, now));
          assert.equal(few.length, Math.min(5, want.length));
          for (const e of few) assert.ok(want.includes(e));
        }
      }
      assert.equal(split(await s.compactPeers!(H, 100, undefined, 550)).length, 27);
      assert.deepEqual(split(await s.compactPeers!('00'.repeat(20), 5, undefined, 1)), []);
      assert.deepEqual(split(await s.compactPeers!(H, 0, undefined, 550)), []);
      await s.close();
    });

    it('caps peers per address in a swarm, loopback aside', async (t) => {
      const s = await make(t, { maxPeersPerIp: 2 });
      if (!s) return;
      const far = (n: number) => rec(n, { ip: '203.0.113.5' });
      await s.announce(H, far(1), undefined, 1);
      await s.announce(H, far(2), undefined, 1);
      await assert.rejects(
        async () => s.announce(H, far(3), undefined, 1),
        (e: unknown) =>
          isChunkswarmError(e, 'ETRACKER_FAILURE') &&
          e.message === 'too many peers from 203.0.113.5 in this swarm (at most 2 per address)',
      );
      // Peers already in keep announcing; other addresses, other swarms and loopback are not held back.
      await s.announce(H, far(2), 'completed', 2);
      await s.announce(H, rec(3, { ip: '203.0.113.6' }), undefined, 2);
      await s.announce('cd'.repeat(20), far(3), undefined, 2);
      for (let n = 10; n < 15; n++) await s.announce(H, rec(n), undefined, 2);
      assert.equal((await s.stats(H)).incomplete + (await s.stats(H)).complete, 8);
      // A peer that leaves or expires frees its place.
      await s.announce(H, far(1), 'stopped', 3);
      await s.announce(H, far(3), undefined, 3);
      await assert.rejects(async () => s.announce(H, far(4), undefined, 3), /too many peers/);
      await s.expire(3);
      await s.announce(H, far(4), undefined, 4);
      assert.deepEqual(ports(await s.peers(H, 50, undefined, 4)), [6003, 6004]);
      await s.close();
    });
  });
}
