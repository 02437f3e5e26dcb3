import { createServer, type Server, type Socket } from 'node:net';
import type { Metainfo } from '../metainfo/types.js';
import { makePeerId, PeerConnection } from '../peer/connection.js';
import { TokenBucket } from '../peer/rate.js';
import type { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import type { Storage } from '../storage/index.js';
import { PieceHasher } from '../storage/index.js';
import { type SessionMode, type SessionOptions, TorrentSession } from './session.js';

export interface ClientOptions {
  readonly host?: string;
  /** 0: any free port; undefined: 6881, or the next free one. */
  readonly port?: number;
  readonly uploadLimit?: number;
  readonly downloadLimit?: number;
  readonly maxPeers?: number;
  readonly announceIp?: string;
}

/**
 * The process-wide part of a peer: one listening socket, one peer id, the shared rate limits and
 * connection budget, one hashing pool, and the sessions (torrents) they serve.
 */
export class Client {
  readonly peerId = makePeerId();
  readonly sessions = new Map<string, TorrentSession>();
  readonly uploadBucket: TokenBucket;
  readonly downloadBucket: TokenBucket;
  readonly hasher = new PieceHasher();
  host = '127.0.0.1';
  port = 0;
  #server: Server | undefined;
  readonly #opts: ClientOptions;
  readonly #sockets = new Set<Socket>();

  constructor(opts: ClientOptions = {}) {
    this.#opts = opts;
    this.uploadBucket = new TokenBucket(opts.uploadLimit ?? 0);
    this.downloadBucket = new TokenBucket(opts.downloadLimit ?? 0);
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
        this.#server = await bind(host, port, (s) => this.#accept(s));
        const addr = this.#server.address();
        this.host = host;
        this.port = typeof addr === 'object' && addr ? addr.port : port;
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
    return n;
  }

  addSession(
    opts: {
      metainfo: Metainfo;
      storage: Storage;
      have: Bitfield;
      mode: SessionMode;
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
      announceIp: this.#opts.announceIp,
      mayConnect: () => this.connectionCount < LIMITS.maxPeersTotal,
      ...opts,
    });
    this.sessions.set(key, session);
    session.start();
    return session;
  }

  #accept(socket: Socket): void {
    if (this.connectionCount >= LIMITS.maxPeersTotal) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // Anything that is not a BitTorrent handshake (aria2's encrypted one, a port scan) is closed at once
    // by the decoder, and nothing is held against the address: aria2 retries in plain.
    new PeerConnection(socket, {
      resolveHost: (infoHash) => this.sessions.get(infoHash.toString('hex')),
    });
  }

  async close(opts: { announce?: boolean } = {}): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.stop(opts)));
    this.#server?.close();
    for (const s of this.#sockets) s.destroy();
    await this.hasher.close();
    for (const s of this.sessions.values()) await s.storage.close().catch(() => {});
  }
}

function bind(host: string, port: number, onSocket: (s: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true }, onSocket);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', () => {});
      resolve(server);
    });
  });
}
