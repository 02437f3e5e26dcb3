/** Torrents of real bytes for session tests on loopback. */
import { createHash } from 'node:crypto';
import { encode } from '../../src/codec/index.js';
import { buildInfoDict, metainfoFromInfoBytes, parseMetainfo } from '../../src/metainfo/index.js';
import type { Metainfo } from '../../src/metainfo/types.js';
import { TokenBucket } from '../../src/peer/rate.js';
import type { Announcer } from '../../src/session/announcing.js';
import { Client, type ClientOptions } from '../../src/session/client.js';
import { TorrentSession } from '../../src/session/session.js';
import type { Bitfield } from '../../src/shared/bitfield.js';
import type { FakeClock } from '../../src/shared/clock.js';
import { type Network, type RangeFetch, seededRandom } from '../../src/shared/env.js';
import { MemoryStorage, PieceHasher } from '../../src/storage/index.js';

/**
 * A single-file torrent of `data` in 16 KiB pieces, hashed; `private` adds BEP 27's flag; `files` (their
 * lengths adding up to `data`'s) makes it a multi-file one.
 */
export function torrentOf(
  data: Buffer,
  opts: { name?: string; private?: boolean; files?: { path: string[]; length: number }[] } = {},
): Metainfo {
  const pieceLength = 16 * 1024;
  const count = Math.ceil(data.length / pieceLength);
  const hashes = Buffer.alloc(count * 20);
  for (let i = 0; i < count; i++)
    createHash('sha1')
      .update(data.subarray(i * pieceLength, (i + 1) * pieceLength))
      .digest()
      .copy(hashes, i * 20);
  let info = buildInfoDict({
    name: opts.name ?? 'lesson.bin',
    pieceLength,
    pieceHashes: hashes,
    files: opts.files ?? [{ path: [], length: data.length }],
    multiFile: opts.files !== undefined,
  });
  // `private` sorts last in the info dictionary: slip it in before the closing 'e'.
  if (opts.private) info = Buffer.concat([info.subarray(0, info.length - 1), Buffer.from('7:privatei1ee')]);
  return metainfoFromInfoBytes(info);
}

/** One entry of `filesTorrent`: a file and its bytes, or (`pad`) a BEP 47 padding file of zeros. */
export interface TorrentFile {
  readonly path: string[];
  readonly data: Buffer;
  readonly pad?: boolean;
}

/**
 * A torrent of `files` in 64 KiB pieces, hashed: multi-file (padding entries with attr 'p') or, with
 * `single`, one file named `name`; `webSeeds` go in its `url-list` (BEP 19). Returns its content too.
 */
export function filesTorrent(
  name: string,
  files: readonly TorrentFile[],
  opts: { webSeeds?: string[]; single?: boolean } = {},
): { metainfo: Metainfo; content: Buffer } {
  const pieceLength = 64 * 1024;
  const content = Buffer.concat(files.map((f) => f.data));
  const pieces = Buffer.concat(
    Array.from({ length: Math.ceil(content.length / pieceLength) }, (_, i) =>
      createHash('sha1')
        .update(content.subarray(i * pieceLength, (i + 1) * pieceLength))
        .digest(),
    ),
  );
  const info = opts.single
    ? { length: content.length, name, 'piece length': pieceLength, pieces }
    : {
        files: files.map((f) => ({ length: f.data.length, path: f.path, ...(f.pad ? { attr: 'p' } : {}) })),
        name,
        'piece length': pieceLength,
        pieces,
      };
  return { metainfo: parseMetainfo(encode({ info, 'url-list': opts.webSeeds ?? [] })), content };
}

/** Resolves once `session` holds every piece. */
export function completed(session: TorrentSession): Promise<void> {
  return session.complete
    ? Promise.resolve()
    : new Promise((r) => session.events.once('complete', () => r()));
}

/** A Client listening on a free loopback port, added to `clients` for the test file to close. */
export async function listeningClient(clients: Client[], opts: ClientOptions = {}): Promise<Client> {
  const client = new Client({ port: 0, ...opts });
  clients.push(client);
  await client.listen();
  return client;
}

/** A MemoryStorage holding every piece of `data`, the content of `metainfo`. */
export async function storedInMemory(metainfo: Metainfo, data: Buffer): Promise<MemoryStorage> {
  const storage = new MemoryStorage(metainfo);
  for (let i = 0; i < metainfo.pieceCount; i++)
    await storage.writePiece(i, data.subarray(i * metainfo.pieceLength, (i + 1) * metainfo.pieceLength));
  return storage;
}

/** No peer answers on this network: for fake-clock tests about something else (trackers, web seeds). */
export const deadNetwork: Network = {
  dial: () => Promise.reject(new Error('connection refused')),
  listen: () => Promise.reject(new Error('not here')),
};

/**
 * A session of `metainfo` on `clock` that reaches no peer (`deadNetwork`), hashing inline, with no rate
 * limits: what it does with its tracker (`announcer`) or its web seeds (`fetchRange`) is the test's.
 */
export function offlineSession(
  clock: FakeClock,
  metainfo: Metainfo,
  opts: {
    have: Bitfield;
    priorities?: number[];
    announcer?: Announcer;
    fetchRange?: RangeFetch;
  },
): TorrentSession {
  return new TorrentSession({
    metainfo,
    storage: new MemoryStorage(metainfo),
    have: opts.have,
    peerId: Buffer.alloc(20, 1),
    listenPort: 6881,
    mode: 'auto',
    hasher: new PieceHasher({ inlineBelow: Number.POSITIVE_INFINITY }),
    uploadBucket: new TokenBucket(0, clock),
    downloadBucket: new TokenBucket(0, clock),
    env: {
      clock,
      random: seededRandom(7),
      net: deadNetwork,
      ...(opts.fetchRange ? { fetchRange: opts.fetchRange } : {}),
    },
    ...(opts.priorities ? { priorities: opts.priorities } : {}),
    ...(opts.announcer ? { announcer: opts.announcer } : {}),
  });
}
