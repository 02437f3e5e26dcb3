import type { MagnetLink, Metainfo } from '../metainfo/types.js';
import { makePeerId, PeerConnection } from '../peer/connection.js';
import { TokenBucket } from '../peer/rate.js';
import type { Bitfield } from '../shared/bitfield.js';
import type { ByteStream, Env, Listener } from '../shared/env.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { nodeEnv } from '../shared/node-env.js';
import type { Storage } from '../storage/index.js';
import { PieceHasher } from '../storage/index.js';
import { MetadataFetch, type MetadataResult } from './metadata-fetch.js';
import { FileSelection, type InitialSelection } from './selection.js';
import { type SessionMode, type SessionOptions, TorrentSession } from './session.js';

/** A way to find a torrent's peers other than its trackers: the process's DHT node (BEP 5). */
export interface PeerFinder {
  /** Starts looking (and announcing `port`); undefined for a torrent it must not serve (private, BEP 27). */
  track(
    torrent: {
      readonly infoHash: Buffer;
      readonly private: boolean;
      readonly nodes?: readonly { host: string; port: number }[];
    },
    port: number,
    onPeers: (peers: { host: string; port: number }[]) => void,
  ): { lookupNow(): void; stop(): void } | undefined;
  /** Nodes in its routing table (and how many are good), for `/status` and the peer page. */
  stats?(): { readonly nodes: number; readonly goodNodes: number };
}

/** What to open: a .torrent's metainfo, or a magnet link whose metadata is fetched from peers first (BEP 9). */
export type TorrentSpec =
  | { readonly metainfo: Metainfo }
  | {
      readonly magnet: MagnetLink;
      /** Sees the fetch before it starts (to follow its events). */
      readonly onFetch?: (fetch: MetadataFetch) => void;
      readonly timeoutMs?: number;
    };

/** Where a torrent's data lives once its metainfo is known, and what of it is verified already. */
export interface OpenedStorage {
  readonly storage: Storage;
  readonly have: Bitfield;
  readonly mode: SessionMode;
  /** Per-piece priorities (0: a file left out with --select). */
  readonly priorities?: ArrayLike<number>;
  /** The files chosen (--select), which `priorities` was made from; absent: every file. */
  readonly selection?: InitialSelection;
}

export interface ClientOptions {
  readonly host?: string;
  /** 0: any free port; undefined: 6881, or the next free one. */
  readonly port?: number;
  readonly uploadLimit?: number;
  readonly downloadLimit?: number;
  readonly maxPeers?: number;
  /** Connections a torrent opens itself, at most (default: half of its peer limit). */
  readonly dialLimit?: number;
  readonly announceIp?: string;
  /** Clock, randomness and network (default: Node's). */
  readonly env?: Env;
  /** SHA-1 of pieces (default: a pool of worker threads). */
  readonly hasher?: PieceHasher;
  /** Peer id (default: a fresh random one). */
  readonly peerId?: Buffer;
}

/**
 * The process-wide part of a peer: one listening socket, one peer id, the shared rate limits and
 * connection budget, one hashing pool, and the sessions (torrents) they serve.
 */
export class Client {
  readonly peerId: Buffer;
  readonly sessions = new Map<string, TorrentSession>();
  readonly uploadBucket: TokenBucket;
  readonly downloadBucket: TokenBucket;
  readonly hasher: PieceHasher;
  readonly env: Env;
  host = '127.0.0.1';
  port = 0;
  #listener: Listener | undefined;
  /** The DHT, when the command runs one: each torrent (not private) and each magnet looks for peers there. */
  dht: PeerFinder | undefined;
  /** Magnets whose metadata is being fetched: incoming peers that ask for them are handed to the fetch. */
  readonly #fetches = new Map<string, MetadataFetch>();
  readonly #opts: ClientOptions;

  constructor(opts: ClientOptions = {}) {
    this.#opts = opts;
    this.env = opts.env ?? nodeEnv;
    this.peerId = opts.peerId ?? makePeerId(this.env.random);
    this.hasher = opts.hasher ?? new PieceHasher();
    this.uploadBucket = new TokenBucket(opts.uploadLimit ?? 0, this.env.clock);
    this.downloadBucket = new TokenBucket(opts.downloadLimit ?? 0, this.env.clock);
  }

  /** Binds the listening port (6881, or the next free one, unless told otherwise). */
  async listen(): Promise<{ host: string; port: number }> {
    const host = this.#opts.host ?? '127.0.0.1';
    const wanted = this.#opts.port;
    const candidates =
      wanted === undefined ? Array.from({ length: 20 }, (_, i) => 6881 + i).concat([0]) : [wanted];
    let lastError: unknown;
    for (const port of candidates) {
      try {
        this.#listener = await this.env.net.listen(host, port, (s) => this.#accept(s));
        this.host = host;
        this.port = this.#listener.port;
        return { host: this.host, port: this.port };
      } catch (err) {
        lastError = err;
      }
    }
    throw new ChunkswarmError('EUSAGE', `cannot listen on ${host}:${wanted}: ${describeError(lastError)}`);
  }

  get connectionCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.peers.size;
    for (const f of this.#fetches.values()) n += f.connectionCount;
    return n;
  }

  /**
   * The one way to open a torrent. A magnet's metadata comes first, over ordinary connections that the
   * session then adopts as they are; `storage` is where the data goes: given, or made (with resume) once
   * the metainfo is known.
   * A torrent already open (say, added from the web page meanwhile) gets the fetch's peers and is returned.
   */
  async add(
    spec: TorrentSpec,
    storage: OpenedStorage | ((metainfo: Metainfo) => Promise<OpenedStorage>),
  ): Promise<TorrentSession> {
    const open = typeof storage === 'function' ? storage : async () => storage;
    if ('metainfo' in spec)
      return this.addSession({ metainfo: spec.metainfo, ...(await open(spec.metainfo)) });
    const fetch = this.fetchMetadata(spec.magnet, { timeoutMs: spec.timeoutMs });
    spec.onFetch?.(fetch);
    const result = await fetch.run();
    const key = result.metainfo.infoHashHex;
    let session = this.sessions.get(key);
    if (!session) {
      try {
        session = this.addSession({ metainfo: result.metainfo, ...(await open(result.metainfo)) });
      } catch (err) {
        for (const c of result.connections) c.close('the torrent could not be opened');
        throw err;
      }
    }
    this.handOver(session, result);
    return session;
  }

  /** A metadata fetch for `link` whose incoming peers this client routes to it until it ends. */
  fetchMetadata(link: MagnetLink, opts: { timeoutMs?: number } = {}): MetadataFetch {
    const key = link.infoHashHex;
    const fetch = new MetadataFetch({
      magnet: link,
      peerId: this.peerId,
      listenPort: this.port,
      announceIp: this.#opts.announceIp,
      mayConnect: () => this.connectionCount < LIMITS.maxPeersTotal,
      env: this.env,
      timeoutMs: opts.timeoutMs,
      otherSources: this.dht !== undefined,
    });
    this.#fetches.set(key, fetch);
    // The DHT looks for peers of the magnet too (a magnet with no tracker has only it); those peers are
    // found again, and dialled, by the session's own lookup once the metadata is here.
    const source = this.dht?.track({ infoHash: link.infoHash, private: false }, this.port, (peers) =>
      fetch.addPeers(peers.map((p) => ({ ip: p.host, port: p.port }))),
    );
    fetch.events.once('end', () => {
      source?.stop();
      if (this.#fetches.get(key) === fetch) this.#fetches.delete(key);
    });
    return fetch;
  }

  /** The fetch's open connections join the session, and the rest of the peers it learned are dialled. */
  handOver(session: TorrentSession, result: MetadataResult): void {
    session.adopt(result.connections);
    session.dialUntilComplete(result.peers);
  }

  addSession(
    opts: {
      metainfo: Metainfo;
      storage: Storage;
      have: Bitfield;
      mode: SessionMode;
      selection?: InitialSelection;
    } & Partial<SessionOptions>,
  ): TorrentSession {
    const key = opts.metainfo.infoHashHex;
    if (this.sessions.has(key)) throw new ChunkswarmError('EUSAGE', `torrent ${key} is already open`);
    const session = new TorrentSession({
      peerId: this.peerId,
      listenPort: this.port,
      hasher: this.hasher,
      uploadBucket: this.uploadBucket,
      downloadBucket: this.downloadBucket,
      maxPeers: this.#opts.maxPeers,
      dialLimit: this.#opts.dialLimit,
      announceIp: this.#opts.announceIp,
      mayConnect: () => this.connectionCount < LIMITS.maxPeersTotal,
      env: this.env,
      ...opts,
    });
    if (opts.selection) FileSelection.attach(session, opts.selection);
    this.sessions.set(key, session);
    session.start();
    const m = session.metainfo;
    const source = this.dht?.track(
      { infoHash: m.infoHash, private: m.private, nodes: m.nodes },
      this.port,
      (peers) =>
        session.dialling.dial(
          peers.map((p) => ({ ip: p.host, port: p.port })),
          'dht',
        ),
    );
    if (source) {
      session.peerFinders.push(source);
      session.onStop(() => source.stop());
    }
    return session;
  }

  #accept(stream: ByteStream): void {
    if (this.connectionCount >= LIMITS.maxPeersTotal) {
      stream.close();
      return;
    }
    // Anything that is not a BitTorrent handshake (aria2's encrypted one, a port scan) is closed at once
    // by the decoder, and nothing is held against the address: aria2 retries in plain.
    new PeerConnection(stream, {
      resolveHost: (infoHash) => {
        const key = infoHash.toString('hex');
        return this.sessions.get(key) ?? this.#fetches.get(key);
      },
      clock: this.env.clock,
    });
  }

  async close(opts: { announce?: boolean } = {}): Promise<void> {
    for (const f of this.#fetches.values()) f.stop('stopped');
    await Promise.all([...this.sessions.values()].map((s) => s.stop(opts)));
    this.#listener?.close();
    await this.hasher.close();
    for (const s of this.sessions.values()) await s.storage.close().catch(() => {});
  }
}
