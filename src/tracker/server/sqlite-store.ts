import Database from 'better-sqlite3';
import { ChunkswarmError, describeError } from '../../shared/errors.js';
import type { AnnounceEvent } from '../protocol/announce-request.js';
import { compactEntry } from '../protocol/announce-response.js';
import {
  type CompactPeers,
  MemorySwarmStore,
  type MemorySwarmStoreOptions,
  type PeerRecord,
  type SavedPeer,
  type SavedSwarm,
  type StoreTotals,
  type SwarmChange,
  type SwarmJournal,
  type SwarmStats,
  type SwarmStore,
} from './store.js';

export type SqliteSwarmStoreOptions = Omit<MemorySwarmStoreOptions, 'journal'>;

/** Bumped when the tables change; a file from a newer chunkswarm is refused rather than misread. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS swarms (
  info_hash  TEXT PRIMARY KEY,
  downloaded INTEGER NOT NULL,
  name       TEXT,
  pieces     INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS peers (
  info_hash   TEXT NOT NULL,
  key         TEXT NOT NULL,
  ip          TEXT NOT NULL,
  port        INTEGER NOT NULL,
  peer_id     BLOB NOT NULL,
  uploaded    INTEGER NOT NULL,
  downloaded  INTEGER NOT NULL,
  left        INTEGER,
  have        INTEGER,
  pieces      INTEGER,
  bitfield    BLOB,
  name        TEXT,
  last_seen   INTEGER NOT NULL,
  upload_only INTEGER NOT NULL,
  completed   INTEGER NOT NULL,
  PRIMARY KEY (info_hash, key)
) WITHOUT ROWID;
`;

interface SwarmRow {
  info_hash: string;
  downloaded: number;
  name: string | null;
  pieces: number | null;
}

interface PeerRow {
  info_hash: string;
  key: string;
  ip: string;
  port: number;
  peer_id: Buffer;
  uploaded: number;
  downloaded: number;
  left: number | null;
  have: number | null;
  pieces: number | null;
  bitfield: Buffer | null;
  name: string | null;
  last_seen: number;
  upload_only: number;
  completed: number;
}

/**
 * Swarms kept in an SQLite file (better-sqlite3), so a restarted tracker still knows its peers and
 * completed counts. The swarms are also held in memory, where announces read them (peer selection
 * stays as cheap as MemorySwarmStore's); every change is written to the file first, in its own
 * transaction, and made in memory only once that committed. An announce is therefore answered
 * only after what it changed is in the file.
 *
 * WAL mode with `synchronous=NORMAL`: a committed transaction is in the write-ahead log, handed to
 * the operating system, before `announce` returns, so killing the process (even with SIGKILL)
 * loses nothing committed. Only a power cut or kernel crash can lose the last transactions, and
 * the file stays consistent even then. `FULL` would add an fsync to every announce, which caps a
 * tracker at the disk's sync rate for state that every peer re-announces within an interval anyway.
 */
export class SqliteSwarmStore implements SwarmStore {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #mem: MemorySwarmStore;

  /** Opens (or creates) the file and loads what it holds. Throws ChunkswarmError `ESTORAGE`. */
  constructor(path: string, opts: SqliteSwarmStoreOptions = {}) {
    this.path = path;
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new ChunkswarmError(
          'ESTORAGE',
          `tracker database ${path} was written by a newer chunkswarm (schema ${version}); use that version or another file`,
        );
      }
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (err) {
      db?.close();
      if (err instanceof ChunkswarmError) throw err;
      throw new ChunkswarmError(
        'ESTORAGE',
        `cannot use ${path} as the tracker database: ${describeError(err)}`,
        { cause: err },
      );
    }
    this.#db = db;
    const journal = new SqliteJournal(db);
    this.#mem = new MemorySwarmStore({ ...opts, journal });
    this.#load();
  }

  announce(infoHash: string, peer: PeerRecord, event: AnnounceEvent | undefined, now: number): void {
    this.#mem.announce(infoHash, peer, event, now);
  }

  peers(infoHash: string, limit: number, excludeKey: string | undefined, now: number): PeerRecord[] {
    return this.#mem.peers(infoHash, limit, excludeKey, now);
  }

  compactPeers(infoHash: string, limit: number, excludeKey: string | undefined, now: number): CompactPeers {
    return this.#mem.compactPeers(infoHash, limit, excludeKey, now);
  }

  stats(infoHash: string): SwarmStats {
    return this.#mem.stats(infoHash);
  }

  swarms(): string[] {
    return this.#mem.swarms();
  }

  totals(): StoreTotals {
    return this.#mem.totals();
  }

  expire(olderThan: number): number {
    return this.#mem.expire(olderThan);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
    this.#mem.close();
  }

  #load(): void {
    const saved = new Map<string, SavedSwarm>();
    for (const row of this.#db.prepare('SELECT * FROM swarms').iterate() as IterableIterator<SwarmRow>) {
      saved.set(row.info_hash, {
        downloaded: row.downloaded,
        name: row.name ?? undefined,
        pieces: row.pieces ?? undefined,
      });
    }
    const peers = new Map<string, SavedPeer[]>();
    for (const row of this.#db.prepare('SELECT * FROM peers').iterate() as IterableIterator<PeerRow>) {
      const list = peers.get(row.info_hash);
      if (list) list.push(savedPeer(row));
      else peers.set(row.info_hash, [savedPeer(row)]);
    }
    for (const [hash, swarm] of saved) this.#mem.restore(hash, swarm, peers.get(hash) ?? []);
    // Peers without a swarm row cannot come from this store; keep them rather than lose them.
    for (const [hash, list] of peers) {
      if (!saved.has(hash))
        this.#mem.restore(hash, { downloaded: 0, name: undefined, pieces: undefined }, list);
    }
  }
}

function savedPeer(row: PeerRow): SavedPeer {
  const peer: PeerRecord = {
    key: row.key,
    ip: row.ip,
    port: row.port,
    peerId: row.peer_id,
    uploaded: row.uploaded,
    downloaded: row.downloaded,
    left: row.left ?? undefined,
    have: row.have ?? undefined,
    pieces: row.pieces ?? undefined,
    bitfield: row.bitfield ?? undefined,
    lastSeen: row.last_seen,
    name: row.name ?? undefined,
    compact: compactEntry(row.ip, row.port),
  };
  return { peer, uploadOnly: row.upload_only !== 0, completed: row.completed !== 0 };
}

/** Writes each change in one transaction (a single statement is one by itself). */
class SqliteJournal implements SwarmJournal {
  readonly #putPeer: Database.Statement;
  readonly #putSwarm: Database.Statement;
  readonly #delPeer: Database.Statement;
  readonly #putBoth: (change: Extract<SwarmChange, { kind: 'upsert' }>) => void;
  readonly #expire: (olderThan: number) => void;

  constructor(db: Database.Database) {
    this.#putPeer = db.prepare(
      `INSERT OR REPLACE INTO peers (info_hash, key, ip, port, peer_id, uploaded, downloaded, left, have,
         pieces, bitfield, name, last_seen, upload_only, completed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#putSwarm = db.prepare(
      `INSERT INTO swarms (info_hash, downloaded, name, pieces) VALUES (?, ?, ?, ?)
       ON CONFLICT (info_hash) DO UPDATE SET downloaded = excluded.downloaded, name = excluded.name,
         pieces = excluded.pieces`,
    );
    this.#delPeer = db.prepare('DELETE FROM peers WHERE info_hash = ? AND key = ?');
    this.#putBoth = db.transaction((c: Extract<SwarmChange, { kind: 'upsert' }>) => {
      this.#putSwarm.run(c.infoHash, c.swarm.downloaded, c.swarm.name ?? null, c.swarm.pieces ?? null);
      this.#writePeer(c);
    });
    const delOld = db.prepare('DELETE FROM peers WHERE last_seen < ?');
    const delEmpty = db.prepare(
      'DELETE FROM swarms WHERE NOT EXISTS (SELECT 1 FROM peers WHERE peers.info_hash = swarms.info_hash)',
    );
    this.#expire = db.transaction((olderThan: number) => {
      delOld.run(olderThan);
      delEmpty.run();
    });
  }

  announce(change: SwarmChange): void {
    try {
      if (change.kind === 'remove') this.#delPeer.run(change.infoHash, change.key);
      else if (change.swarmChanged) this.#putBoth(change);
      else this.#writePeer(change);
    } catch (err) {
      throw unsaved(err);
    }
  }

  expire(olderThan: number): void {
    try {
      this.#expire(olderThan);
    } catch (err) {
      throw unsaved(err);
    }
  }

  #writePeer(c: Extract<SwarmChange, { kind: 'upsert' }>): void {
    const p = c.peer;
    this.#putPeer.run(
      c.infoHash,
      p.key,
      p.ip,
      p.port,
      p.peerId,
      p.uploaded,
      p.downloaded,
      p.left ?? null,
      p.have ?? null,
      p.pieces ?? null,
      p.bitfield ?? null,
      p.name ?? null,
      p.lastSeen,
      c.uploadOnly ? 1 : 0,
      c.completed ? 1 : 0,
    );
  }
}

/** A write that failed (disk full, file gone): the announcer is told, the tracker keeps running. */
function unsaved(err: unknown): ChunkswarmError {
  return new ChunkswarmError(
    'ETRACKER_FAILURE',
    'the tracker cannot record announces right now; try again later',
    { cause: err },
  );
}
