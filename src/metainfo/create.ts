/**
 * Making a .torrent. `buildInfoDict` and `buildTorrentFile` are pure; `createTorrent` is the one
 * part of metainfo that touches the file system (it walks and hashes the content), kept here so
 * that parsing stays free of I/O.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { encode } from '../codec/index.js';
import { ChunkswarmError, osReason, storageError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { isValidPieceLength, parseMetainfo } from './parse.js';
import { checkSafePath } from './paths.js';
import type { Metainfo } from './types.js';

export const CREATED_BY = 'chunkswarm 0.1.0';

/** Read size while hashing: large enough to keep the disk busy, small enough to hold nothing big. */
const READ_SIZE = 1024 * 1024;

export interface InfoDictInput {
  readonly name: string;
  readonly pieceLength: number;
  /** 20 bytes per piece, concatenated. */
  readonly pieceHashes: Uint8Array;
  /** For a single-file torrent one entry (its path is ignored); else paths below `name`. */
  readonly files: readonly { readonly path: readonly string[]; readonly length: number }[];
  readonly multiFile: boolean;
}

/**
 * The bencoded `info` dictionary (BEP 3) with only `files`/`length`, `name`, `piece length` and
 * `pieces`: for one file this is byte for byte what libtorrent makes with the same piece length.
 */
export function buildInfoDict(input: InfoDictInput): Buffer {
  if (!input.multiFile && input.files.length !== 1) {
    throw new ChunkswarmError('EMETAINFO', 'a single-file torrent has exactly one file');
  }
  return encode({
    name: input.name,
    'piece length': input.pieceLength,
    pieces: input.pieceHashes,
    ...(input.multiFile
      ? { files: input.files.map((f) => ({ length: f.length, path: [...f.path] })) }
      : { length: input.files[0]!.length }),
  });
}

export interface TorrentFileOptions {
  readonly trackers: readonly string[];
  /** BEP 19 `url-list`: web servers holding the files. */
  readonly webSeeds?: readonly string[] | undefined;
  readonly comment?: string | undefined;
  readonly createdBy?: string | undefined;
  readonly creationDate?: number | undefined;
}

/**
 * A whole .torrent around existing `info` bytes, which are copied in unchanged so the infohash
 * stays theirs. `announce` is the first tracker; `announce-list` (BEP 12) only when there are
 * several, each in its own tier.
 */
export function buildTorrentFile(infoBytes: Uint8Array, opts: TorrentFileOptions): Buffer {
  const trackers = [...new Set(opts.trackers)];
  const outer = encode({
    announce: trackers[0],
    'announce-list': trackers.length > 1 ? trackers.map((t) => [t]) : undefined,
    comment: opts.comment,
    'created by': opts.createdBy,
    'creation date': opts.creationDate,
  });
  // The other outer keys sort before 'info' and 'url-list' after it (BEP 3 order): drop the closing 'e',
  // append the key and the raw info bytes, then `url-list`, and close again.
  const webSeeds = [...new Set(opts.webSeeds ?? [])];
  return Buffer.concat([
    outer.subarray(0, outer.length - 1),
    Buffer.from('4:info'),
    infoBytes,
    webSeeds.length > 0 ? Buffer.concat([Buffer.from('8:url-list'), encode(webSeeds)]) : Buffer.alloc(0),
    Buffer.from('e'),
  ]);
}

interface FoundFile {
  readonly abs: string;
  /** Components below the torrent's root (a single file: just its name). */
  readonly path: string[];
  readonly length: number;
}

/** Byte order of UTF-8 components, component by component (so 'a/b' sorts before 'a-b'). */
function comparePaths(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(Buffer.from(a[i]!, 'utf8'), Buffer.from(b[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Every regular file under `root`, following symbolic links, each folder visited once. */
async function walk(root: string): Promise<FoundFile[]> {
  const out: FoundFile[] = [];
  const seen = new Set<string>();
  const visit = async (dir: string, prefix: string[]): Promise<void> => {
    let st: Awaited<ReturnType<typeof stat>>;
    let names: string[];
    try {
      st = await stat(dir);
      names = await readdir(dir);
    } catch (err) {
      throw storageError('read', dir, err);
    }
    // A symlink back up the tree would make the walk endless.
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    for (const name of names) {
      const abs = join(dir, name);
      let s: Awaited<ReturnType<typeof stat>>;
      try {
        s = await stat(abs);
      } catch (err) {
        throw storageError('read', abs, err);
      }
      if (s.isDirectory()) await visit(abs, [...prefix, name]);
      else if (s.isFile()) {
        out.push({ abs, path: [...prefix, name], length: s.size });
        if (out.length > LIMITS.maxFiles) {
          throw new ChunkswarmError('EMETAINFO_SIZE', `${root} holds more than ${LIMITS.maxFiles} files`);
        }
      }
      // Sockets, FIFOs and devices hold no data to share.
    }
  };
  await visit(root, []);
  return out;
}

/** SHA-1 of every piece of the files laid end to end, read as streams (a piece may span files). */
async function hashPieces(
  files: readonly FoundFile[],
  pieceLength: number,
  pieceCount: number,
  total: number,
  onProgress: ((hashedBytes: number, totalBytes: number) => void) | undefined,
): Promise<Buffer> {
  const hashes = Buffer.alloc(pieceCount * 20);
  let piece = 0;
  let hash = createHash('sha1');
  let inPiece = 0;
  let hashed = 0;
  onProgress?.(0, total);
  for (const file of files) {
    if (file.length === 0) continue;
    let read = 0;
    try {
      // `end` keeps a growing file from adding bytes; a shrinking one is caught below.
      const stream = createReadStream(file.abs, { highWaterMark: READ_SIZE, end: file.length - 1 });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        read += chunk.length;
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(chunk.length - off, pieceLength - inPiece);
          hash.update(chunk.subarray(off, off + n));
          off += n;
          inPiece += n;
          if (inPiece === pieceLength) {
            hash.digest().copy(hashes, piece * 20);
            piece++;
            hash = createHash('sha1');
            inPiece = 0;
          }
        }
        hashed += chunk.length;
        onProgress?.(hashed, total);
      }
    } catch (err) {
      throw storageError('read', file.abs, err);
    }
    if (read !== file.length) {
      throw new ChunkswarmError('ESTORAGE', `${file.abs} changed size while it was being hashed; try again`);
    }
  }
  if (inPiece > 0) {
    hash.digest().copy(hashes, piece * 20);
    piece++;
  }
  if (piece !== pieceCount) {
    throw new ChunkswarmError('ESTORAGE', 'the files changed while they were being hashed; try again');
  }
  return hashes;
}

export interface CreateTorrentOptions {
  /** A file (single-file torrent) or a folder (multi-file, every file below it). */
  path: string;
  trackers: string[];
  webSeeds?: string[];
  pieceLength?: number;
  comment?: string;
  createdBy?: string;
  /** Seconds since the epoch; defaults to now. */
  creationDate?: number;
  onProgress?: (hashedBytes: number, totalBytes: number) => void;
}

/**
 * Hashes a file or folder and returns the .torrent bytes and their parsed form. A folder's
 * files are ordered by path (byte order of UTF-8 components) and include empty files.
 */
export async function createTorrent(
  opts: CreateTorrentOptions,
): Promise<{ torrent: Buffer; metainfo: Metainfo }> {
  const pieceLength = opts.pieceLength ?? LIMITS.defaultPieceLength;
  if (!isValidPieceLength(pieceLength)) {
    throw new ChunkswarmError(
      'EUSAGE',
      `piece length ${pieceLength} is not a power of two between ${LIMITS.minPieceLength} and ${LIMITS.maxPieceLength} bytes`,
    );
  }
  const root = resolve(opts.path);
  const name = basename(root);
  let rootStat: Awaited<ReturnType<typeof stat>>;
  try {
    rootStat = await stat(root);
  } catch (err) {
    throw new ChunkswarmError('EUSAGE', `cannot read ${opts.path}: ${osReason(err)}`, { cause: err });
  }

  let files: FoundFile[];
  let multiFile: boolean;
  if (rootStat.isFile()) {
    files = [{ abs: root, path: [name], length: rootStat.size }];
    multiFile = false;
  } else if (rootStat.isDirectory()) {
    files = await walk(root);
    files.sort((a, b) => comparePaths(a.path, b.path));
    multiFile = true;
  } else {
    throw new ChunkswarmError('EUSAGE', `${opts.path} is neither a file nor a folder`);
  }
  checkSafePath([name]);
  for (const f of files) checkSafePath(f.path);

  const total = files.reduce((sum, f) => sum + f.length, 0);
  if (total === 0) {
    throw new ChunkswarmError(
      'EUSAGE',
      `${opts.path} holds no data: a torrent needs at least one non-empty file`,
    );
  }
  const pieceCount = Math.ceil(total / pieceLength);
  if (pieceCount > LIMITS.maxPieces) {
    throw new ChunkswarmError(
      'EMETAINFO_SIZE',
      `${opts.path} would need ${pieceCount} pieces, more than the limit of ${LIMITS.maxPieces}; use a larger piece length`,
    );
  }

  const pieceHashes = await hashPieces(files, pieceLength, pieceCount, total, opts.onProgress);
  const infoBytes = buildInfoDict({ name, pieceLength, pieceHashes, files, multiFile });
  const torrent = buildTorrentFile(infoBytes, {
    trackers: opts.trackers,
    webSeeds: opts.webSeeds,
    comment: opts.comment,
    createdBy: opts.createdBy ?? CREATED_BY,
    creationDate: opts.creationDate ?? Math.floor(Date.now() / 1000),
  });
  if (torrent.length > LIMITS.metainfoBytes) {
    throw new ChunkswarmError(
      'EMETAINFO_SIZE',
      `the .torrent would be ${torrent.length} bytes, more than the ${LIMITS.metainfoBytes}-byte limit; use a larger piece length`,
    );
  }
  return { torrent, metainfo: parseMetainfo(torrent) };
}
