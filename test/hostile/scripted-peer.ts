/**
 * A scripted BitTorrent peer for hostile tests: it speaks the wire protocol with our own codec over a raw
 * socket, so a test can send exactly the bytes a misbehaving client would (bad lengths, bad indices,
 * floods, garbage data) and watch what the chunkswarm process on the other end does about it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { parseMetainfo } from '../../src/metainfo/index.js';
import type { Metainfo } from '../../src/metainfo/types.js';
import {
  type DecoderEvent,
  encodeExtensionHandshake,
  encodeHandshake,
  encodeMessage,
  WireDecoder,
  type WireMessage,
} from '../../src/wire/index.js';

export async function loadMetainfo(path: string): Promise<Metainfo> {
  return parseMetainfo(await readFile(path));
}

/** An Azureus-style id that names the tool in logs: `-HX0001-` and 12 random bytes. */
export function hostilePeerId(): Buffer {
  return Buffer.concat([Buffer.from('-HX0001-'), randomBytes(12)]);
}

export interface HandshakeOptions {
  infoHash: Buffer;
  peerId?: Buffer;
  fast?: boolean;
  extended?: boolean;
  /** Sent as `p` in a BEP 10 handshake: the port a chunkswarm peer then knows (and bans) us by. */
  listenPort?: number;
}

/**
 * One connection, dialled or accepted. Everything the other side sends is decoded and kept; a decode
 * failure is kept too (the remote is under test, not us), and the socket's end is observable.
 */
/** Every scripted connection made, so a test can close what it left open (an unchoked peer holds a slot). */
export const openPeers = new Set<ScriptedPeer>();

/** Listening scripted seeders: a server left open would keep the test file's process alive. */
export const openSeeders = new Set<ScriptedSeeder>();

export function closeAll(): void {
  for (const p of openPeers) p.close();
  openPeers.clear();
  for (const s of openSeeders) s.server.close();
  openSeeders.clear();
}

export class ScriptedPeer {
  readonly socket: Socket;
  readonly received: DecoderEvent[] = [];
  decodeError: Error | undefined;
  closed = false;
  bytesIn = 0;
  readonly #decoder: WireDecoder;
  readonly #waiters = new Set<() => void>();

  constructor(socket: Socket, pieceCount: number) {
    this.socket = socket;
    openPeers.add(this);
    this.#decoder = new WireDecoder({ limits: { pieceCount } });
    socket.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      if (this.decodeError) return;
      try {
        this.received.push(...this.#decoder.push(chunk));
      } catch (err) {
        this.decodeError = err as Error;
      }
      this.#wake();
    });
    // Resets are expected: the remote is meant to hang up on us.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  static dial(
    port: number,
    opts: { pieceCount: number; localPort?: number; host?: string },
  ): Promise<ScriptedPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: opts.host ?? '127.0.0.1', port, localPort: opts.localPort });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new ScriptedPeer(socket, opts.pieceCount));
      });
    });
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  send(...messages: WireMessage[]): void {
    this.write(Buffer.concat(messages.map((m) => encodeMessage(m))));
  }

  handshake(opts: HandshakeOptions): void {
    this.write(
      encodeHandshake({
        infoHash: opts.infoHash,
        peerId: opts.peerId ?? hostilePeerId(),
        fast: opts.fast ?? true,
        extended: opts.extended ?? true,
      }),
    );
    if ((opts.extended ?? true) && opts.listenPort !== undefined) {
      this.send({
        type: 'extended',
        id: 0,
        payload: encodeExtensionHandshake({ m: {}, port: opts.listenPort, client: 'hostile 0.1' }),
      });
    }
  }

  messages(): WireMessage[] {
    return this.received.flatMap((e) => (e.kind === 'message' ? [e.message] : []));
  }

  /** Resolves when `cond` holds; rejects with `what` after `timeoutMs` (a bound, not a measurement). */
  until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(
            `${what}: not within ${timeoutMs} ms (closed=${this.closed}, received ${this.summary()})`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  waitHandshake(timeoutMs?: number): Promise<void> {
    return this.until(
      () => this.received.some((e) => e.kind === 'handshake') || this.closed,
      'handshake',
      timeoutMs,
    ).then(() => {
      if (!this.received.some((e) => e.kind === 'handshake')) throw new Error('closed before its handshake');
    });
  }

  waitMessage(pred: (m: WireMessage) => boolean, what: string, timeoutMs?: number): Promise<WireMessage> {
    return this.until(() => this.messages().some(pred) || this.closed, what, timeoutMs).then(() => {
      const m = this.messages().find(pred);
      if (!m) throw new Error(`${what}: connection closed first`);
      return m;
    });
  }

  waitClosed(what: string, timeoutMs?: number): Promise<void> {
    return this.until(() => this.closed, what, timeoutMs);
  }

  /** What arrived, counted by kind: "handshake, have-all, reject x500". */
  summary(): string {
    const counts = new Map<string, number>();
    for (const e of this.received) {
      const k = e.kind === 'handshake' ? 'handshake' : e.message.type;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(', ') || 'nothing';
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/**
 * A listening "seeder" that claims to hold every piece and answers requests with what `blockFor`
 * returns: the true bytes, or garbage for the pieces it means to poison.
 */
export class ScriptedSeeder {
  readonly server: Server;
  readonly peers: ScriptedPeer[] = [];
  readonly metainfo: Metainfo;
  readonly peerId = hostilePeerId();
  /** Blocks served, by piece index. */
  readonly served = new Map<number, number>();
  port = 0;

  constructor(metainfo: Metainfo, blockFor: (index: number, begin: number, length: number) => Buffer) {
    this.metainfo = metainfo;
    this.server = createServer((socket) => {
      const peer = new ScriptedPeer(socket, metainfo.pieceCount);
      this.peers.push(peer);
      this.#serve(peer, blockFor, true);
    });
  }

  listen(): Promise<number> {
    openSeeders.add(this);
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => {
        const a = this.server.address();
        this.port = typeof a === 'object' && a ? a.port : 0;
        resolve(this.port);
      });
    });
  }

  /** Dials `port` itself, presenting the same identity (its listening port as `p`). */
  async dial(
    port: number,
    blockFor: (index: number, begin: number, length: number) => Buffer,
  ): Promise<ScriptedPeer> {
    const peer = await ScriptedPeer.dial(port, { pieceCount: this.metainfo.pieceCount });
    this.peers.push(peer);
    this.#serve(peer, blockFor, false);
    return peer;
  }

  #serve(
    peer: ScriptedPeer,
    blockFor: (index: number, begin: number, length: number) => Buffer,
    incoming: boolean,
  ): void {
    const greet = (): void => {
      peer.handshake({ infoHash: this.metainfo.infoHash, peerId: this.peerId, listenPort: this.port });
      peer.send({ type: 'have-all' }, { type: 'unchoke' });
    };
    if (!incoming) greet();
    let seen = 0;
    let greeted = !incoming;
    const pump = (): void => {
      for (; seen < peer.received.length; seen++) {
        const e = peer.received[seen]!;
        if (e.kind === 'handshake') {
          if (!greeted) greet();
          greeted = true;
          continue;
        }
        const m = e.message;
        if (m.type === 'request') {
          this.served.set(m.index, (this.served.get(m.index) ?? 0) + 1);
          peer.send({
            type: 'piece',
            index: m.index,
            begin: m.begin,
            block: blockFor(m.index, m.begin, m.length),
          });
        }
      }
    };
    peer.socket.on('data', () => setImmediate(pump));
  }

  async close(): Promise<void> {
    openSeeders.delete(this);
    for (const p of this.peers) p.close();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** SHA-1 of each piece of `data` that matches the torrent: how many chunks a resume should find. */
export function verifiedPieces(metainfo: Metainfo, data: Buffer): number {
  let n = 0;
  for (let i = 0; i < metainfo.pieceCount; i++) {
    const start = i * metainfo.pieceLength;
    const piece = data.subarray(start, Math.min(start + metainfo.pieceLength, metainfo.totalLength));
    if (piece.length !== Math.min(metainfo.pieceLength, metainfo.totalLength - start)) continue;
    const digest = createHash('sha1').update(piece).digest();
    if (digest.equals(metainfo.pieceHashes.subarray(i * 20, i * 20 + 20))) n++;
  }
  return n;
}
