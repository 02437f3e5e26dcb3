import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemorySwarmStore, type SwarmChange, type SwarmJournal } from '../../src/tracker/server/index.js';
import { H, ports, rec, swarmStoreSuite } from './store-suite.js';

swarmStoreSuite('MemorySwarmStore', (_t, opts) => new MemorySwarmStore(opts));

describe('MemorySwarmStore', () => {
  it('forgets everything on close, and totals what it holds', () => {
    const s = new MemorySwarmStore();
    s.announce(H, rec(1), undefined, 1);
    s.announce(H, rec(2, { left: 0 }), undefined, 1);
    s.announce('cd'.repeat(20), rec(1), undefined, 1);
    assert.deepEqual(s.totals(), { swarms: 2, peers: 3, seeders: 1 });
    s.close();
    assert.deepEqual(s.swarms(), []);
    assert.deepEqual(s.totals(), { swarms: 0, peers: 0, seeders: 0 });
  });
});

describe('MemorySwarmStore journal', () => {
  it('tells the journal each change before making it, with the swarm numbers when they change', () => {
    const changes: SwarmChange[] = [];
    const expired: number[] = [];
    const journal: SwarmJournal = { announce: (c) => changes.push(c), expire: (t) => expired.push(t) };
    const s = new MemorySwarmStore({ journal });
    s.announce(H, rec(1, { name: 'a', pieces: 4 }), 'started', 1);
    s.announce(H, rec(1), undefined, 2);
    s.announce(H, rec(1, { left: 0 }), 'completed', 3);
    s.announce(H, rec(2), 'paused', 3);
    s.announce(H, rec(1), 'stopped', 4);
    s.announce(H, rec(9), 'stopped', 4);
    s.expire(2);
    const brief = changes.map((c) =>
      c.kind === 'remove'
        ? `remove ${c.key.slice(-12)}`
        : `upsert ${c.peer.port} t=${c.peer.lastSeen} up=${c.uploadOnly} done=${c.completed} ` +
          `swarm=${c.swarmChanged ? `${c.swarm.downloaded}/${c.swarm.name}/${c.swarm.pieces}` : '-'}`,
    );
    assert.deepEqual(brief, [
      'upsert 6001 t=1 up=false done=false swarm=0/a/4',
      'upsert 6001 t=2 up=false done=false swarm=-',
      'upsert 6001 t=3 up=true done=true swarm=1/a/4',
      'upsert 6002 t=3 up=true done=false swarm=-',
      `remove ${rec(1).key.slice(-12)}`,
    ]);
    assert.deepEqual(expired, [2]);
  });

  it('changes nothing when the journal fails', () => {
    let fail = false;
    const s = new MemorySwarmStore({
      journal: {
        announce() {
          if (fail) throw new Error('disk full');
        },
        expire() {
          if (fail) throw new Error('disk full');
        },
      },
    });
    s.announce(H, rec(1), undefined, 1);
    fail = true;
    assert.throws(() => s.announce(H, rec(2), undefined, 2), /disk full/);
    assert.throws(() => s.announce(H, rec(1, { left: 0 }), 'completed', 2), /disk full/);
    assert.throws(() => s.announce(H, rec(1), 'stopped', 2), /disk full/);
    assert.throws(() => s.announce('cd'.repeat(20), rec(1), undefined, 2), /disk full/);
    assert.throws(() => s.expire(5), /disk full/);
    assert.deepEqual(s.stats(H), {
      complete: 0,
      incomplete: 1,
      downloaded: 0,
      name: undefined,
      pieces: undefined,
    });
    assert.deepEqual(ports(s.peers(H, 9, undefined, 2)), [6001]);
    assert.equal(s.peers(H, 9, undefined, 2)[0]!.lastSeen, 1);
    assert.deepEqual(s.swarms(), [H]);
  });
});
