/**
 * Helpers for the magnet tests: torrents whose metadata spans several BEP 9 pieces, an in-process
 * chunkswarm seeder, scripted peers that serve metadata well or badly, and a raw client that asks a
 * seeder for metadata with our own codec. Everything listens on 127.0.0.1 and is closed by the test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { buildInfoDict, metainfoFromInfoBytes } from '../../src/metainfo/index.js';
import type { MagnetLink, Metainfo } from '../../src/metainfo/types.js';
import { Client } from '../../src/session/client.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { infoHashHex } from '../../src/shared/types.js';
import { MemoryStorage } from '../../src/storage/index.js';
import {
  type DecoderEvent,
  decodeExtensionHandshake,
  decodeMetadataMessage,
  type ExtensionHandshake,
  encodeExtensionHandshake,
  encodeHandshake,
  encodeMessage,
  encodeMetadataMessage,
  encodePex,
  type MetadataMessage,
  metadataPieceMessage,
  PexFlag,
  UT_PEX,
  WireDecoder,
  type WireMessage,
} from '../../src/wire/index.js';

export const KiB = 1024;

/**
 * A torrent of `pieces` pieces of 16 KiB. Its info dictionary holds 20 bytes per piece, so 1700 pieces
 * make about 34 KiB of metadata: three BEP 9 pieces, the last one short. The hashes are made up: no
 * test here moves the torrent's data, only its metadata.
 */
export function makeTorrent(pieces: number, opts: { name?: string; private?: boolean } = {}): Metainfo {
  const pieceHashes = Buffer.alloc(pieces * 20);
  for (let i = 0; i < pieces; i++)
    createHash('sha1')
      .update(`piece ${i}`)
      .digest()
      .copy(pieceHashes, i * 20);
  let info = buildInfoDict({
    name: opts.name ?? 'lecture.bin',
    pieceLength: 16 * KiB,
    pieceHashes,
    files: [{ path: [], length: pieces * 16 * KiB }],
    multiFile: false,
  });
  if (opts.private) {
    // `private` sorts after `pieces`, last in the dictionary: slip it in before the closing 'e'.
    info = Buffer.concat([info.subarray(0, info.length - 1), Buffer.from('7:privatei1ee')]);
  }
  return metainfoFromInfoBytes(info);
}

export function magnetOf(
  m: { infoHash: Buffer; name?: string },
  peers: string[],
  trackers: string[] = [],
): MagnetLink {
  return {
    infoHash: m.infoHash,
    infoHashHex: infoHashHex(m.infoHash),
    name: m.name,
    trackers,
    peers,
    webSeeds: [],
  };
}

/** A chunkswarm peer in this process that seeds `metainfo` (from memory: only metadata is asked of it). */
export async function startSeeder(
  metainfo: Metainfo,
): Promise<{ client: Client; address: string; port: number }> {
  const client = new Client({ port: 0 });
  const { port } = await client.listen();
  client.addSession({
    metainfo,
    storage: new MemoryStorage(metainfo),
    have: Bitfield.full(metainfo.pieceCount),
    mode: 'seed',
  });
  return { client, address: `127.0.0.1:${port}`, port };
}

export type Behaviour =
  /** Answers every request with the right piece. */
  | 'honest'
  /** Rejects every request. */
  | 'reject'
  /** Answers with pieces of the right size whose bytes are wrong. */
  | 'liar'
  /** Claims a metadata_size one byte larger than the truth and serves pieces of that made-up metadata. */
  | 'wrong-size'
  /** Never answers. */
  | 'silent'
  /** Speaks BEP 10 but offers no ut_metadata. */
  | 'no-metadata';

/**
 * A peer that serves (or pretends to serve) one metadata over BEP 9, as the test scripts it. It
 * records the requests it receives; `gate` holds answers until the test opens it.
 */
export class ScriptedSeeder {
  readonly server: Server;
  readonly requests: number[] = [];
  readonly sockets = new Set<Socket>();
  port = 0;
  /** Peers (`ip:port`) named in a ut_pex message (BEP 11) to each connection that offers ut_pex. */
  pexNames: string[] = [];
  /** How many connections offered ut_pex in their first extension handshake. */
  offeredPex = 0;
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => {};

  constructor(
    readonly metadata: Buffer,
    readonly infoHash: Buffer,
    readonly behaviour: Behaviour,
  ) {
    this.server = createServer((s) => this.#serve(s));
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Holds every answer until `open()` is called. */
  hold(): { open: () => void } {
    this.#gate = new Promise((r) => {
      this.#open = r;
    });
    return { open: () => this.#open() };
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  #pexMessage(id: number): WireMessage {
    const added = this.pexNames.map((a) => {
      const [host, port] = a.split(':');
      return { host: host!, port: Number(port), flags: PexFlag.seed | PexFlag.reachable };
    });
    return { type: 'extended', id, payload: encodePex({ added, dropped: [] }) };
  }

  #serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
    const decoder = new WireDecoder({ limits: { pieceCount: 0 } });
    const served =
      this.behaviour === 'wrong-size'
        ? Buffer.concat([this.metadata, Buffer.of(0x65)])
        : this.behaviour === 'liar'
          ? Buffer.from(this.metadata.map((b) => b ^ 0x5a))
          : this.metadata;
    let theirId = 0;
    let theirPex: number | undefined;
    socket.on('data', (chunk: Buffer) => {
      let events: DecoderEvent[];
      try {
        events = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const ev of events) {
        if (ev.kind === 'handshake') {
          socket.write(
            encodeHandshake({ infoHash: this.infoHash, peerId: randomPeerId('-SC0001-'), extended: true }),
          );
          const offers = this.behaviour !== 'no-metadata';
          socket.write(
            encodeMessage({
              type: 'extended',
              id: 0,
              payload: encodeExtensionHandshake({
                m: offers ? { ut_metadata: 7 } : { ut_pex: 1 },
                metadataSize: offers ? served.length : undefined,
                client: `scripted ${this.behaviour}`,
              }),
            }),
          );
          continue;
        }
        const m = ev.message;
        if (m.type !== 'extended') continue;
        if (m.id === 0) {
          const hs = decodeExtensionHandshake(m.payload);
          const firstHandshake = theirId === 0 && theirPex === undefined;
          theirId = hs.m.get('ut_metadata') ?? 0;
          const pexId = hs.m.get(UT_PEX) ?? 0;
          if (firstHandshake && pexId > 0) {
            theirPex = pexId;
            this.offeredPex++;
            if (this.pexNames.length > 0) socket.write(encodeMessage(this.#pexMessage(pexId)));
          }
          if (theirPex === undefined) theirPex = 0;
          continue;
        }
        if (m.id !== 7) continue;
        const msg = decodeMetadataMessage(m.payload);
        if (msg.type !== 'request') continue;
        this.requests.push(msg.piece);
        if (this.behaviour === 'silent') continue;
        const answer: MetadataMessage =
          this.behaviour === 'reject'
            ? { type: 'reject', piece: msg.piece }
            : metadataPieceMessage(served, msg.piece);
        void this.#gate.then(() => {
          if (!socket.destroyed && theirId > 0)
            socket.write(
              encodeMessage({ type: 'extended', id: theirId, payload: encodeMetadataMessage(answer) }),
            );
        });
      }
    });
  }
}

export function randomPeerId(prefix = '-TS0001-'): Buffer {
  return Buffer.concat([Buffer.from(prefix), randomBytes(12)]);
}

/** A raw connection to a chunkswarm peer that asks for metadata with our codec and keeps what comes back. */
export class RawClient {
  readonly socket: Socket;
  readonly events: DecoderEvent[] = [];
  extension: ExtensionHandshake | undefined;
  closed = false;
  readonly #decoder = new WireDecoder({ limits: { pieceCount: 0 } });
  readonly #waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const ev of this.#decoder.push(chunk)) {
          this.events.push(ev);
          if (ev.kind === 'message' && ev.message.type === 'extended' && ev.message.id === 0)
            this.extension = decodeExtensionHandshake(ev.message.payload);
        }
      } catch {
        socket.destroy();
      }
      this.#wake();
    });
  }

  /** Connects, sends both handshakes (offering ut_metadata under id `ourId` unless it is 0). */
  static async open(port: number, infoHash: Buffer, ourId = 5): Promise<RawClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    socket.write(encodeHandshake({ infoHash, peerId: randomPeerId(), extended: true }));
    socket.write(
      encodeMessage({
        type: 'extended',
        id: 0,
        payload: encodeExtensionHandshake({ m: ourId > 0 ? { ut_metadata: ourId } : {} }),
      }),
    );
    await c.until(() => c.extension !== undefined, 'the extension handshake');
    return c;
  }

  request(piece: number, theirId = this.extension?.m.get('ut_metadata') ?? 0): void {
    this.socket.write(
      encodeMessage({
        type: 'extended',
        id: theirId,
        payload: encodeMetadataMessage({ type: 'request', piece }),
      }),
    );
  }

  /** ut_metadata messages received so far (sent to our id 5). */
  metadataMessages(): MetadataMessage[] {
    const out: MetadataMessage[] = [];
    for (const ev of this.events) {
      if (ev.kind === 'message' && ev.message.type === 'extended' && ev.message.id === 5)
        out.push(decodeMetadataMessage(ev.message.payload));
    }
    return out;
  }

  until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (cond()) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`gave up waiting for ${what}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}
