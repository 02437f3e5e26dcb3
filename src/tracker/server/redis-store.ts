/**
 * Swarms kept in Redis, so any number of tracker processes, on any machines, serve the same
 * swarms. Each announce is one EVALSHA of a Lua script (./redis/scripts.ts): Redis runs it
 * atomically, so caps and counts hold however many trackers write at once, and a tracker answers
 * only once Redis has taken the change (with `appendfsync always`, once it is on Redis's disk).
 *
 * Times are Redis's clock by default: every tracker stamps and expires peers by the same clock,
 * whatever its own machine's says.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import type { AnnounceEvent } from '../protocol/announce-request.js';
import { compactEntry, isSeeder } from '../protocol/announce-response.js';
import { parseRedisUrl, RedisClient, type RedisClientOptions, RedisReplyError } from './redis/client.js';
import type { RespArg, RespValue } from './redis/resp.js';
import { ANNOUNCE_LUA, EXPIRE_LUA, PEERS_LUA, STATS_LUA } from './redis/scripts.js';
import {
  type AsyncSwarmStore,
  type CompactPeers,
  DEFAULT_MAX_PEERS_PER_IP,
  type MemorySwarmStoreOptions,
  type PeerRecord,
  type StoreExchange,
  type StoreTotals,
  type SwarmStats,
} from './store.js';

export interface RedisSwarmStoreOptions extends Omit<MemorySwarmStoreOptions, 'journal'> {
  /** Prefix of every key (default `chunkswarm:`): trackers sharing a prefix share swarms. */
  readonly prefix?: string;
  /**
   * `redis` (default): peers are stamped and expired by Redis's clock, the `now` passed in is
   * ignored. `caller`: the `now` passed in is used (tests with a fake clock).
   */
  readonly clock?: 'redis' | 'caller';
  /** Connection behaviour (timeouts, backoff, state changes). */
  readonly client?: Omit<RedisClientOptions, 'onConnect'>;
  /**
   * Sweep at most this often (ms) across every tracker sharing the store: `expire` takes a lock
   * in Redis for this long and does nothing (returns 0) when another tracker holds it. Default
   * none: every call sweeps. A fleet of many processes, each sweeping every minute, needs one.
   */
  readonly sweepEveryMs?: number;
}

/** Swarms swept by one EXPIRE script run: long enough to be worth it, short enough not to stall Redis. */
const EXPIRE_BATCH = 256;

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const SCRIPTS = {
  announce: script(ANNOUNCE_LUA),
  peers: script(PEERS_LUA),
  stats: script(STATS_LUA),
  expire: script(EXPIRE_LUA),
};

const EMPTY = Buffer.alloc(0);

export class RedisSwarmStore implements AsyncSwarmStore {
  readonly async = true as const;
  readonly client: RedisClient;
  readonly #prefix: string;
  readonly #callerClock: boolean;
  readonly #maxPeers: string;
  readonly #maxSwarms: string;
  readonly #maxPerIp: string;
  readonly #stale: string;
  readonly #sweepEvery: number | undefined;

  /** Use `RedisSwarmStore.connect`: it waits for Redis and fails clearly when it is not there. */
  private constructor(client: RedisClient, opts: RedisSwarmStoreOptions) {
    this.client = client;
    this.#prefix = opts.prefix ?? 'chunkswarm:';
    this.#callerClock = opts.clock === 'caller';
    this.#maxPeers = String(opts.maxPeersPerSwarm ?? LIMITS.trackerMaxPeersPerSwarm);
    this.#maxSwarms = String(opts.maxSwarms ?? LIMITS.trackerMaxSwarms);
    this.#maxPerIp = String(opts.maxPeersPerIp ?? DEFAULT_MAX_PEERS_PER_IP);
    const stale = opts.staleAfterMs ?? Number.POSITIVE_INFINITY;
    this.#stale = Number.isFinite(stale) ? String(stale) : '';
    this.#sweepEvery = opts.sweepEveryMs;
  }

  /**
   * Connects to `url` (`redis://HOST:PORT/DB`) and loads the scripts. Rejects with a one-line
   * ChunkswarmError when the URL is wrong (`EUSAGE`) or Redis cannot be reached (`ETRACKER_UNREACHABLE`).
   */
  static async connect(url: string, opts: RedisSwarmStoreOptions = {}): Promise<RedisSwarmStore> {
    const client = new RedisClient(parseRedisUrl(url), {
      ...opts.client,
      // After a Redis restart its script cache is empty: load ours on every connection.
      onConnect: async (send) => {
        await Promise.all(Object.values(SCRIPTS).map((s) => send(['SCRIPT', 'LOAD', s.source])));
      },
    });
    await client.connect();
    return new RedisSwarmStore(client, opts);
  }

  #keys(infoHash: string): string[] {
    const b = `${this.#prefix}{${infoHash}}:`;
    return [`${b}p`, `${b}s`, `${b}l`, `${b}m`, `${b}i`];
  }

  #now(now: number): string {
    return this.#callerClock ? String(now) : '';
  }

  async #eval(s: Script, keys: readonly string[], args: readonly RespArg[]): Promise<RespValue> {
    try {
      return await this.client.send(['EVALSHA', s.sha, keys.length, ...keys, ...args]);
    } catch (err) {
      if (err instanceof RedisReplyError) {
        // Someone ran SCRIPT FLUSH: send the source, which caches it again.
        if (err.reply.kind === 'NOSCRIPT') {
          return this.#eval2(['EVAL', s.source, keys.length, ...keys, ...args]);
        }
        throw replyError(err);
      }
      throw err;
    }
  }

  async #eval2(args: readonly RespArg[]): Promise<RespValue> {
    try {
      return await this.client.send(args);
    } catch (err) {
      throw err instanceof RedisReplyError ? replyError(err) : err;
    }
  }

  #announceArgs(
    infoHash: string,
    peer: PeerRecord,
    event: AnnounceEvent | undefined,
    now: number,
    numwant: number,
    mode: '' | 'c' | 'r',
  ): { keys: string[]; args: RespArg[] } {
    const keys = [...this.#keys(infoHash), `${this.#prefix}swarms`, `${this.#prefix}totals`];
    const compact = peer.compact ?? compactEntry(peer.ip, peer.port);
    const args: RespArg[] = [
      infoHash,
      peer.key,
      this.#now(now),
      event ?? '',
      isSeeder(peer) ? '1' : '0',
      compact,
      encodeBlob(peer),
      peer.name === undefined ? '' : `=${peer.name}`,
      peer.pieces === undefined ? '' : String(peer.pieces),
      this.#maxPeers,
      this.#maxSwarms,
      this.#maxPerIp,
      String(numwant),
      mode,
      String(Math.random()),
      this.#stale,
    ];
    return { keys, args };
  }

  async announce(
    infoHash: string,
    peer: PeerRecord,
    event: AnnounceEvent | undefined,
    now: number,
  ): Promise<void> {
    const { keys, args } = this.#announceArgs(infoHash, peer, event, now, 0, '');
    await this.#eval(SCRIPTS.announce, keys, args);
  }

  async exchange(
    infoHash: string,
    peer: PeerRecord,
    event: AnnounceEvent | undefined,
    now: number,
    numwant: number,
    compact: boolean,
  ): Promise<StoreExchange> {
    const stopped = event === 'stopped';
    const mode = stopped ? '' : compact ? 'c' : 'r';
    const { keys, args } = this.#announceArgs(infoHash, peer, event, now, stopped ? 0 : numwant, mode);
    const r = asArray(await this.#eval(SCRIPTS.announce, keys, args));
    const stats = decodeStats(r[0] ?? null);
    const part = asArray(r[2] ?? null);
    if (mode === 'c') return { packed: decodePacked(part), peers: [], stats };
    return { packed: undefined, peers: mode === 'r' ? decodeRecords(part) : [], stats };
  }

  async #pick(infoHash: string, limit: number, excludeKey: string | undefined, now: number, mode: 'c' | 'r') {
    const [p, s, l] = this.#keys(infoHash);
    const r = await this.#eval(
      SCRIPTS.peers,
      [p!, s!, l!],
      [
        String(Math.max(0, limit)),
        excludeKey ?? '',
        this.#now(now),
        this.#stale,
        String(Math.random()),
        mode,
      ],
    );
    return asArray(r);
  }

  async peers(
    infoHash: string,
    limit: number,
    excludeKey: string | undefined,
    now: number,
  ): Promise<PeerRecord[]> {
    return decodeRecords(await this.#pick(infoHash, limit, excludeKey, now, 'r'));
  }

  async compactPeers(
    infoHash: string,
    limit: number,
    excludeKey: string | undefined,
    now: number,
  ): Promise<CompactPeers> {
    return decodePacked(await this.#pick(infoHash, limit, excludeKey, now, 'c'));
  }

  async stats(infoHash: string): Promise<SwarmStats> {
    return (await this.statsMany([infoHash]))[0]!;
  }

  async statsMany(infoHashes: readonly string[]): Promise<SwarmStats[]> {
    if (infoHashes.length === 0) return [];
    const keys: string[] = [];
    for (const h of infoHashes) {
      const [, s, l, m] = this.#keys(h);
      keys.push(s!, l!, m!);
    }
    return asArray(await this.#eval(SCRIPTS.stats, keys, [])).map(decodeStats);
  }

  async swarms(limit?: number): Promise<string[]> {
    const stop = limit === undefined ? -1 : limit - 1;
    if (stop < -1) return [];
    const r = await this.#eval2(['ZRANGE', `${this.#prefix}swarms`, 0, stop]);
    return asArray(r).map((v) => String(v));
  }

  async expire(olderThan: number): Promise<number> {
    if (this.#sweepEvery !== undefined) {
      const lock = await this.#eval2(['SET', `${this.#prefix}sweep-lock`, '1', 'PX', this.#sweepEvery, 'NX']);
      if (lock === null) return 0;
    }
    const all = await this.swarms();
    let removed = 0;
    // Redis's clock: the same age, measured from Redis's now rather than ours.
    const cutoff = this.#callerClock ? String(olderThan) : '';
    // Not clamped at 0: a cutoff ahead of our clock (everything seen until then) stays ahead of Redis's
    // too. At 0, a peer stamped in Redis's current millisecond outlived a sweep meant to take it.
    const age = String(Date.now() - olderThan);
    for (let i = 0; i < all.length; i += EXPIRE_BATCH) {
      const batch = all.slice(i, i + EXPIRE_BATCH);
      const r = await this.#eval(
        SCRIPTS.expire,
        [`${this.#prefix}swarms`, `${this.#prefix}totals`],
        [this.#prefix, cutoff, age, ...batch],
      );
      removed += typeof r === 'number' ? r : 0;
    }
    return removed;
  }

  async totals(): Promise<StoreTotals> {
    const r = asArray(
      await this.#eval2([
        'EVAL',
        "return {redis.call('ZCARD', KEYS[1]), redis.call('HMGET', KEYS[2], 'peers', 'seeders')}",
        2,
        `${this.#prefix}swarms`,
        `${this.#prefix}totals`,
      ]),
    );
    const [peers, seeders] = asArray(r[1] ?? null).map((v) => Number(v ?? 0));
    return { swarms: Number(r[0]), peers: peers ?? 0, seeders: seeders ?? 0 };
  }

  async sharedSecret(): Promise<Buffer> {
    const key = `${this.#prefix}udp-secret`;
    const r = await this.#eval2([
      'EVAL',
      "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])",
      1,
      key,
      randomBytes(32),
    ]);
    if (!Buffer.isBuffer(r) || r.length < 16)
      throw new ChunkswarmError('ETRACKER_FAILURE', `unusable ${key} in Redis`);
    return r;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** A refusal from a script (`CSREFUSED reason`) is the failure reason; any other error reply is ours. */
function replyError(err: RedisReplyError): ChunkswarmError {
  const m = /CSREFUSED (.*)$/.exec(err.message);
  if (m) return new ChunkswarmError('ETRACKER_FAILURE', m[1]!);
  return new ChunkswarmError('ETRACKER_FAILURE', 'internal tracker error', { cause: err });
}

function asArray(v: RespValue): RespValue[] {
  if (!Array.isArray(v))
    throw new ChunkswarmError('ETRACKER_FAILURE', 'internal tracker error (unexpected store reply)');
  return v;
}

function text(v: RespValue): string | undefined {
  return Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'string' ? v : undefined;
}

function decodeStats(v: RespValue): SwarmStats {
  const [complete, incomplete, downloaded, name, pieces, known] = asArray(v);
  const base = { complete: Number(complete), incomplete: Number(incomplete), downloaded: Number(downloaded) };
  // An unknown swarm has no name or chunk count at all, as MemorySwarmStore answers.
  if (known !== 1) return base;
  const c = text(pieces ?? null);
  return { ...base, name: text(name ?? null), pieces: c === undefined ? undefined : Number(c) };
}

function decodePacked(part: RespValue[]): CompactPeers {
  const [v4, v6] = part;
  return {
    v4: Buffer.isBuffer(v4) ? v4 : EMPTY,
    v6: Buffer.isBuffer(v6) ? v6 : EMPTY,
  };
}

/**
 * The record fields Lua never reads, as JSON: peer id in hex, bitfield in base64, `cs_rates` as
 * [ip, port, down, up] (at most LIMITS.trackerMaxRates of them, as parsed).
 */
interface Blob {
  i: string;
  u: number;
  d: number;
  l?: number;
  h?: number;
  p?: number;
  b?: string;
  n?: string;
  r?: [string, number, number, number][];
}

function encodeBlob(p: PeerRecord): string {
  const b: Blob = {
    i: Buffer.from(p.peerId.buffer, p.peerId.byteOffset, p.peerId.byteLength).toString('hex'),
    u: p.uploaded,
    d: p.downloaded,
  };
  if (p.left !== undefined) b.l = p.left;
  if (p.have !== undefined) b.h = p.have;
  if (p.pieces !== undefined) b.p = p.pieces;
  if (p.bitfield !== undefined) b.b = Buffer.from(p.bitfield).toString('base64');
  if (p.name !== undefined) b.n = p.name;
  if (p.rates !== undefined) b.r = p.rates.map((x) => [x.ip, x.port, x.down, x.up]);
  return JSON.stringify(b);
}

/** Key, stored value, score triples back into records. */
function decodeRecords(part: RespValue[]): PeerRecord[] {
  const out: PeerRecord[] = [];
  for (let i = 0; i + 2 < part.length; i += 3) {
    const key = text(part[i]!) ?? '';
    const val = part[i + 1];
    if (!Buffer.isBuffer(val) || val.length < 2) continue;
    const clen = val[1]!;
    const compact = Buffer.from(val.subarray(2, 2 + clen));
    const blob = JSON.parse(val.subarray(2 + clen).toString('utf8')) as Blob;
    out.push({
      key,
      ip: key.slice(key.indexOf('@') + 1),
      port: compact.readUInt16BE(clen - 2),
      peerId: Buffer.from(blob.i, 'hex'),
      uploaded: blob.u,
      downloaded: blob.d,
      left: blob.l,
      have: blob.h,
      pieces: blob.p,
      bitfield: blob.b === undefined ? undefined : Buffer.from(blob.b, 'base64'),
      lastSeen: Number(text(part[i + 2]!)),
      name: blob.n,
      compact,
      ...(blob.r ? { rates: blob.r.map(([ip, port, down, up]) => ({ ip, port, down, up })) } : {}),
    });
  }
  return out;
}
