/**
 * The stage every lesson plays on: a tracker with its page, and named peers (real Clients on 127.0.0.1,
 * each with its own peer page) in this one process. Seeders keep the torrent in memory; a lesson can wrap
 * a peer's storage to make it misbehave. Everything here is torn down by `close`.
 */
import { createHash } from 'node:crypto';
import { buildInfoDict, buildTorrentFile } from '../metainfo/create.js';
import { parseMetainfo, pieceSize } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { Client } from '../session/client.js';
import type { TorrentSession } from '../session/session.js';
import { Bitfield } from '../shared/bitfield.js';
import { formatAddress } from '../shared/types.js';
import type { Storage } from '../storage/index.js';
import { MemoryStorage } from '../storage/index.js';
import { startTracker, type TrackerHandle } from '../tracker/index.js';
import { type PeerWebHandle, startPeerWeb } from '../web/peer-web.js';
import { TrackerWeb } from '../web/tracker-web.js';

/** Where a lesson writes: the explanation, progress lines and the proof. */
export interface LessonOutput {
  line(text: string): void;
}

export interface PeerSpec {
  readonly seeder?: boolean;
  /** A leecher that starts with some chunks already: which ones. */
  readonly holds?: (index: number) => boolean;
  /** Bytes/s, for everything this peer sends (0: unlimited). */
  readonly uploadLimit?: number;
  readonly downloadLimit?: number;
  /** Tit-for-tat slots (default 4). */
  readonly uploadSlots?: number;
  /** A seeder's first pass, each chunk out once before any twice (default true; see TorrentSession). */
  readonly superSeed?: boolean;
  /** Wraps the peer's storage (say, to corrupt what it sends). */
  readonly wrap?: (storage: MemoryStorage) => Storage;
}

export interface LessonPeer {
  readonly name: string;
  readonly client: Client;
  readonly session: TorrentSession;
  /** `ip:port` where it accepts connections: how other peers and `piece-verified` name it. */
  readonly address: string;
  readonly page: string;
  /** Seconds from the lesson's start to this peer's last chunk, once it has them all. */
  finishedAt: number | undefined;
}

/** Deterministic bytes, so every run of a lesson (and of the demo) trades the same file. */
export function lessonContent(bytes: number, seed: string): Buffer {
  const out = Buffer.alloc(bytes);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < bytes; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A fixed pick of about half the chunks, different for each `seed`: a leecher that starts half-way. */
export function aHalf(seed: string): (index: number) => boolean {
  return (index) => (lessonContent(1, `${seed} ${index}`)[0]! & 1) === 1;
}

export class LessonSwarm {
  readonly peers: LessonPeer[] = [];
  readonly startedAt = Date.now();
  readonly #tracker: TrackerHandle;
  readonly #web: TrackerWeb;
  readonly #pages: PeerWebHandle[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #gone = new Set<LessonPeer>();
  readonly out: LessonOutput;

  private constructor(tracker: TrackerHandle, web: TrackerWeb, out: LessonOutput) {
    this.#tracker = tracker;
    this.#web = web;
    this.out = out;
  }

  /** A tracker on 127.0.0.1 (any free port) that asks peers back every 2 s, and its page. */
  static async start(out: LessonOutput): Promise<LessonSwarm> {
    let web: TrackerWeb | undefined;
    const tracker = await startTracker({
      host: '127.0.0.1',
      port: 0,
      interval: 2,
      udp: false,
      onEvent: (e) => {
        if (web !== undefined && web.hub.size > 0) web.onTrackerEvent(e);
      },
    });
    web = new TrackerWeb(tracker, { allowedHosts: ['127.0.0.1'] });
    await web.start();
    out.line(`tracker page: ${tracker.announceUrl.replace(/announce$/, '')}`);
    return new LessonSwarm(tracker, web, out);
  }

  /** A single-file torrent of `data` on this swarm's tracker. */
  torrent(name: string, data: Buffer, pieceLength: number): Metainfo {
    const count = Math.ceil(data.length / pieceLength);
    const hashes = Buffer.alloc(count * 20);
    for (let i = 0; i < count; i++) {
      createHash('sha1')
        .update(data.subarray(i * pieceLength, (i + 1) * pieceLength))
        .digest()
        .copy(hashes, i * 20);
    }
    const info = buildInfoDict({
      name,
      pieceLength,
      pieceHashes: hashes,
      files: [{ path: [name], length: data.length }],
      multiFile: false,
    });
    return parseMetainfo(buildTorrentFile(info, { trackers: [this.#tracker.announceUrl] }));
  }

  /** Seconds since the lesson started, to one decimal. */
  get elapsed(): number {
    return Math.round((Date.now() - this.startedAt) / 100) / 10;
  }

  async addPeer(name: string, metainfo: Metainfo, data: Buffer, spec: PeerSpec = {}): Promise<LessonPeer> {
    const client = new Client({
      port: 0,
      uploadLimit: spec.uploadLimit ?? 0,
      downloadLimit: spec.downloadLimit ?? 0,
    });
    const { host, port } = await client.listen();
    const memory = new MemoryStorage(metainfo);
    const have = new Bitfield(metainfo.pieceCount);
    const holds = spec.seeder ? () => true : spec.holds;
    if (holds) {
      for (let i = 0; i < metainfo.pieceCount; i++) {
        if (!holds(i)) continue;
        const begin = i * metainfo.pieceLength;
        await memory.writePiece(i, data.subarray(begin, begin + pieceSize(metainfo, i)));
        have.set(i);
      }
    }
    const session = client.addSession({
      metainfo,
      storage: spec.wrap ? spec.wrap(memory) : memory,
      have,
      mode: spec.seeder ? 'seed' : 'auto',
      ...(spec.uploadSlots === undefined ? {} : { uploadSlots: spec.uploadSlots }),
      ...(spec.superSeed === undefined ? {} : { superSeed: spec.superSeed }),
    });
    const web = await startPeerWeb({
      client,
      command: spec.seeder ? 'seed' : 'download',
      host: '127.0.0.1',
      port: 0,
      addDisabled: 'a lesson plays with the torrent it started with',
    });
    this.#pages.push(web);
    const peer: LessonPeer = {
      name,
      client,
      session,
      address: formatAddress(host, port),
      page: web.url,
      finishedAt: undefined,
    };
    session.events.on('complete', () => {
      peer.finishedAt ??= this.elapsed;
    });
    this.peers.push(peer);
    this.out.line(`${name.padEnd(12)} ${peer.address.padEnd(16)} page: ${web.url}`);
    return peer;
  }

  /** Every peer announces and starts trading. */
  async go(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.session.connectTracker()));
  }

  /** The name of the peer at `address` (as `piece-verified` and the peer list give it). */
  nameOf(address: string | undefined): string {
    return this.peers.find((p) => p.address === address)?.name ?? address ?? 'unknown';
  }

  /** Calls `fn` every `ms` until the lesson ends. */
  every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    this.#timers.push(t);
  }

  /** Resolves true once `done()` holds, false after `timeoutMs`. */
  waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const started = Date.now();
      const t = setInterval(() => {
        if (done()) resolve(true);
        else if (Date.now() - started > timeoutMs) resolve(false);
        else return;
        clearInterval(t);
      }, 100);
    });
  }

  /** A peer leaves the swarm: tells the tracker, closes its connections and its page. */
  async leave(peer: LessonPeer): Promise<void> {
    if (this.#gone.has(peer)) return;
    this.#gone.add(peer);
    await peer.client.close({ announce: true }).catch(() => {});
  }

  /** Peers still in the swarm. */
  get present(): LessonPeer[] {
    return this.peers.filter((p) => !this.#gone.has(p));
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    await Promise.all(this.present.map((p) => p.client.close({ announce: false }).catch(() => {})));
    await Promise.all(this.#pages.map((p) => p.close()));
    this.#web.close();
    await this.#tracker.close();
  }
}

/** `1.2 MiB/s`-style rate for progress and proof lines. */
export function kib(bytesPerSecond: number): string {
  return `${Math.round(bytesPerSecond / 1024)} KiB/s`;
}
