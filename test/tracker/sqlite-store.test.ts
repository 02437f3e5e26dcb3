import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { SqliteSwarmStore } from '../../src/tracker/server/sqlite-store.js';
import { H, ports, rec, swarmStoreSuite } from './store-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'chunkswarm-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const fresh = () => join(dir, `swarms-${++files}.db`);

swarmStoreSuite('SqliteSwarmStore', (_t, opts) => new SqliteSwarmStore(fresh(), opts));

describe('SqliteSwarmStore on disk', () => {
  it('gives back swarms, peers, counts and flags after a reopen', () => {
    const file = fresh();
    const bits = Buffer.from([0b1110_0000]);
    let s = new SqliteSwarmStore(file);
    s.announce(
      H,
      rec(1, { name: 'demo.iso', pieces: 4, bitfield: bits, have: 3, uploaded: 5 }),
      'started',
      10,
    );
    s.announce(H, rec(2, { left: 0, ip: '::1' }), 'completed', 11);
    s.announce(H, rec(3), 'paused', 12);
    s.announce(H, rec(4), undefined, 12);
    s.announce(H, rec(4), 'stopped', 13);
    s.announce('cd'.repeat(20), rec(1, { ip: '10.1.2.3' }), undefined, 14);
    const before = { stats: s.stats(H), swarms: s.swarms().sort(), peers: s.peers(H, 50, undefined, 20) };
    s.close();

    s = new SqliteSwarmStore(file);
    assert.deepEqual(s.stats(H), before.stats);
    assert.deepEqual(s.stats(H), { complete: 1, incomplete: 2, downloaded: 1, name: 'demo.iso', pieces: 4 });
    assert.deepEqual(s.swarms().sort(), before.swarms);
    const byPort = (list: typeof before.peers) =>
      [...list]
        .sort((a, b) => a.port - b.port)
        .map((p) => [
          p.key,
          p.ip,
          p.port,
          p.peerId.toString('hex'),
          p.uploaded,
          p.downloaded,
          p.left,
          p.have,
          p.pieces,
          p.bitfield?.toString('hex'),
          p.lastSeen,
          p.name,
        ]);
    assert.deepEqual(byPort(s.peers(H, 50, undefined, 20)), byPort(before.peers));
    // The partial seed (BEP 21) still gets no seeders; the completed peer is not counted twice.
    assert.deepEqual(ports(s.peers(H, 50, rec(3).key, 20)), [6001]);
    s.announce(H, rec(2, { left: 0, ip: '::1' }), 'completed', 21);
    assert.equal(s.stats(H).downloaded, 1);
    s.close();
  });

  it('keeps expiry and refusals in step with the file', () => {
    const file = fresh();
    let s = new SqliteSwarmStore(file, { maxPeersPerSwarm: 2 });
    s.announce(H, rec(1), undefined, 10);
    s.announce(H, rec(2), undefined, 20);
    assert.throws(() => s.announce(H, rec(3), undefined, 20), /swarm is full/);
    s.announce('cd'.repeat(20), rec(1), undefined, 10);
    assert.equal(s.expire(15), 2);
    s.close();
    s = new SqliteSwarmStore(file);
    assert.deepEqual(s.swarms(), [H]);
    assert.deepEqual(ports(s.peers(H, 9, undefined, 20)), [6002]);
    s.close();
  });

  it('writes in WAL mode with synchronous=NORMAL and a schema version', () => {
    const file = fresh();
    new SqliteSwarmStore(file).close();
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), 1);
    } finally {
      db.close();
    }
  });

  it('refuses a file that is not its database, and one from a newer schema', () => {
    const junk = fresh();
    writeFileSync(
      junk,
      'this is not an SQLite database, just text that is long enough to look like a header',
    );
    assert.throws(
      () => new SqliteSwarmStore(junk),
      (e: unknown) =>
        isChunkswarmError(e, 'ESTORAGE') &&
        e.message.startsWith(`cannot use ${junk} as the tracker database`),
    );
    const newer = fresh();
    const db = new Database(newer);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => new SqliteSwarmStore(newer), /written by a newer chunkswarm/);
  });

  it('answers a write that fails with a failure reason and keeps its memory as the file is', () => {
    const file = fresh();
    const s = new SqliteSwarmStore(file);
    s.announce(H, rec(1), undefined, 1);
    // Another process holds the write lock: the write fails (busy) and nothing changes.
    const other = new Database(file);
    other.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    try {
      assert.throws(
        () => s.announce(H, rec(2), undefined, 2),
        (e: unknown) => isChunkswarmError(e, 'ETRACKER_FAILURE') && /cannot record announces/.test(e.message),
      );
      assert.deepEqual(ports(s.peers(H, 9, undefined, 2)), [6001]);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    s.announce(H, rec(2), undefined, 3);
    assert.deepEqual(ports(s.peers(H, 9, undefined, 3)), [6001, 6002]);
    s.close();
  });
});
