import { createHash } from 'node:crypto';
import {
  type BDict,
  type BValue,
  decode,
  decodeDictSpans,
  dictGet,
  getBytes,
  getInt,
  getList,
  isDict,
} from '../codec/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { infoHashHex } from '../shared/types.js';
import { checkSafePath, displayPath } from './paths.js';
import type { ByteRange, FileEntry, Metainfo, TorrentLayout } from './types.js';

function bad(message: string): never {
  throw new ChunkswarmError('EMETAINFO', message);
}

function tooBig(message: string): never {
  throw new ChunkswarmError('EMETAINFO_SIZE', message);
}

/** True for the piece lengths we take: powers of two from 16 KiB to 16 MiB. */
export function isValidPieceLength(n: number): boolean {
  return (
    Number.isSafeInteger(n) && n >= LIMITS.minPieceLength && n <= LIMITS.maxPieceLength && (n & (n - 1)) === 0
  );
}

/** Text from a bencoded string; invalid UTF-8 becomes U+FFFD, as other clients show it. */
function text(v: Buffer): string {
  return v.toString('utf8');
}

/** Prefers the `<key>.utf-8` variant that some clients add next to a legacy-encoded key. */
function preferUtf8(d: BDict, key: string): Buffer | undefined {
  const utf8 = dictGet(d, `${key}.utf-8`);
  if (Buffer.isBuffer(utf8)) return utf8;
  return getBytes(d, key, 'EMETAINFO');
}

function pathComponents(list: BValue[], where: string): string[] {
  return list.map((c) => {
    if (!Buffer.isBuffer(c)) bad(`${where}: every path component must be a string`);
    return text(c);
  });
}

/**
 * A BEP 47 padding file: `attr` holds 'p'. BitComet's older convention, a name beginning with
 * `_____padding_file_`, means the same, and other clients read it so too.
 */
function isPadding(entry: BDict, path: readonly string[]): boolean {
  if (hasAttr(entry, 'p')) return true;
  return path[path.length - 1]?.startsWith('_____padding_file_') ?? false;
}

/** Whether BEP 47's `attr` string holds `flag` (unknown flags are ignored, as the BEP says). */
function hasAttr(entry: BDict, flag: 'p' | 'x'): boolean {
  const attr = dictGet(entry, 'attr');
  return Buffer.isBuffer(attr) && attr.includes(flag.charCodeAt(0));
}

/** A file entry, with `executable` only when BEP 47 says so. */
function fileEntry(path: string[], length: number, offset: number, attrs: BDict): FileEntry {
  return hasAttr(attrs, 'x') ? { path, length, offset, executable: true } : { path, length, offset };
}

/** The files of a multi-file torrent, its padding files apart, and the length of all of them together. */
function readFiles(files: BValue[]): { files: FileEntry[]; padding: ByteRange[]; totalLength: number } {
  if (files.length === 0) bad("'files' is empty: a torrent must hold at least one file");
  if (files.length > LIMITS.maxFiles) {
    tooBig(`torrent lists ${files.length} files, more than the limit of ${LIMITS.maxFiles}`);
  }
  const out: FileEntry[] = [];
  const padding: ByteRange[] = [];
  // Two entries writing the same file, or a file where another needs a folder, cannot both be
  // stored; refuse rather than let one overwrite the other.
  const taken = new Set<string>();
  const folders = new Set<string>();
  let offset = 0;
  for (let i = 0; i < files.length; i++) {
    const entry = files[i]!;
    const where = `file ${i + 1} of ${files.length}`;
    if (!isDict(entry)) bad(`${where} in 'files' is not a dictionary`);
    const length = getInt(entry, 'length', 'EMETAINFO');
    if (length === undefined) bad(`${where} has no 'length'`);
    if (length < 0) bad(`${where} has a negative 'length' (${length})`);
    let raw = dictGet(entry, 'path.utf-8');
    if (!Array.isArray(raw)) raw = getList(entry, 'path', 'EMETAINFO');
    if (raw === undefined) bad(`${where} has no 'path'`);
    const path = pathComponents(raw, where);
    if (isPadding(entry, path)) {
      // Zeros that no file holds: never written, so their path does not matter.
      if (length > 0) padding.push({ offset, length });
    } else {
      checkSafePath(path);
      const key = path.join('/');
      if (taken.has(key) || folders.has(key))
        bad(`two files in the torrent use the path ${displayPath(path)}`);
      for (let n = 1; n < path.length; n++) {
        const folder = path.slice(0, n).join('/');
        if (taken.has(folder))
          bad(`${displayPath(path.slice(0, n))} is both a file and a folder in the torrent`);
        folders.add(folder);
      }
      taken.add(key);
      out.push(fileEntry(path, length, offset, entry));
    }
    offset += length;
    if (offset > Number.MAX_SAFE_INTEGER) tooBig('torrent is larger than 2^53 bytes');
  }
  if (out.length === 0) bad("'files' holds only padding files (BEP 47): the torrent has no data of its own");
  return { files: out, padding, totalLength: offset };
}

/**
 * Checks an `info` dictionary (BEP 3) and returns the layout of the torrent's bytes. Multi-file
 * paths lie under `name`. BEP 47 padding files (attr 'p') leave `files` for `padding`: their zeros
 * are part of the pieces, so every piece hashes as it does for other clients, but no file holds them.
 */
export function layoutFromInfo(info: BDict): TorrentLayout {
  const nameBytes = preferUtf8(info, 'name');
  if (nameBytes === undefined) bad("'info' has no 'name'");
  const name = text(nameBytes);
  checkSafePath([name]);

  const pieceLength = getInt(info, 'piece length', 'EMETAINFO');
  if (pieceLength === undefined) bad("'info' has no 'piece length'");
  if (!isValidPieceLength(pieceLength)) {
    bad(`'piece length' ${pieceLength} is not a power of two between 16 KiB and 16 MiB`);
  }

  const pieces = getBytes(info, 'pieces', 'EMETAINFO');
  if (pieces === undefined) {
    // BEP 52: a v2-only torrent hashes a per-file tree instead; hybrid ones also carry 'pieces'.
    if (dictGet(info, 'meta version') === 2) bad('BitTorrent v2-only torrents (BEP 52) are not supported');
    bad("'info' has no 'pieces'");
  }
  if (pieces.length % 20 !== 0) bad(`'pieces' length ${pieces.length} is not a multiple of 20`);
  const pieceCount = pieces.length / 20;
  if (pieceCount > LIMITS.maxPieces) {
    tooBig(`torrent has ${pieceCount} pieces, more than the limit of ${LIMITS.maxPieces}`);
  }

  const length = getInt(info, 'length', 'EMETAINFO');
  const fileList = getList(info, 'files', 'EMETAINFO');
  let files: FileEntry[];
  let padding: ByteRange[] = [];
  let totalLength: number;
  let multiFile: boolean;
  if (length !== undefined && fileList !== undefined) {
    bad("'info' has both 'length' and 'files': it must be one or the other");
  } else if (length !== undefined) {
    if (length < 0) bad(`'length' is negative (${length})`);
    files = [fileEntry([name], length, 0, info)];
    totalLength = length;
    multiFile = false;
  } else if (fileList !== undefined) {
    ({ files, padding, totalLength } = readFiles(fileList));
    multiFile = true;
  } else {
    bad("'info' has neither 'length' nor 'files'");
  }

  if (totalLength === 0) bad('torrent holds no data: its total length is 0');
  if (files.every((f) => f.length === 0)) bad('torrent holds no data: its only bytes are padding (BEP 47)');
  const expected = Math.ceil(totalLength / pieceLength);
  if (expected !== pieceCount) {
    bad(
      `'pieces' holds ${pieceCount} hashes but ${totalLength} bytes in pieces of ${pieceLength} need ${expected}`,
    );
  }

  return {
    name,
    pieceLength,
    pieceCount,
    totalLength,
    files,
    multiFile,
    pieceHashes: pieces,
    ...(padding.length > 0 ? { padding } : {}),
  };
}

/** BEP 12 tiers, keeping only string URLs; without a usable `announce-list`, one tier of `announce`. */
function readTrackers(root: BDict, announce: string | undefined): string[][] {
  const tiers: string[][] = [];
  const list = dictGet(root, 'announce-list');
  if (Array.isArray(list)) {
    for (const tier of list) {
      if (!Array.isArray(tier)) continue;
      const urls = tier.filter((u): u is Buffer => Buffer.isBuffer(u) && u.length > 0).map(text);
      if (urls.length > 0) tiers.push(urls);
    }
  }
  if (tiers.length === 0 && announce !== undefined) tiers.push([announce]);
  return tiers;
}

/** Most `nodes` entries taken from a torrent; a host name longer than DNS allows is skipped. */
const MAX_TORRENT_NODES = 64;
const MAX_HOST_LENGTH = 253;

/**
 * BEP 5: `nodes` is a list of `[host, port]` pairs for a trackerless torrent. An entry of another shape
 * is skipped, as other optional keys are: the torrent stays usable.
 */
function readNodes(root: BDict): { host: string; port: number }[] {
  const list = dictGet(root, 'nodes');
  const out: { host: string; port: number }[] = [];
  if (!Array.isArray(list)) return out;
  for (const entry of list) {
    if (out.length >= MAX_TORRENT_NODES) break;
    if (!Array.isArray(entry) || entry.length !== 2) continue;
    const [host, port] = entry;
    if (!Buffer.isBuffer(host) || host.length === 0 || host.length > MAX_HOST_LENGTH) continue;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const name = host.toString('latin1');
    if (!/^[A-Za-z0-9.:\-[\]]+$/.test(name)) continue;
    out.push({ host: name.replace(/^\[(.*)\]$/, '$1'), port });
  }
  return out;
}

/** Most `url-list` entries kept: plenty to name in a line, bounded against a torrent listing thousands. */
const MAX_WEB_SEEDS = 32;

/** A web seed's URL (BEP 19): http or https, no whitespace. */
export function isWebSeedUrl(url: string): boolean {
  return /^https?:\/\/\S+$/i.test(url);
}

/** BEP 19: `url-list` is one URL or a list of them; entries that are not http(s) URLs are skipped. */
function readWebSeeds(root: BDict): string[] {
  const raw = dictGet(root, 'url-list');
  const list = Array.isArray(raw) ? raw : [raw];
  const out: string[] = [];
  for (const v of list) {
    if (out.length >= MAX_WEB_SEEDS) break;
    if (!Buffer.isBuffer(v)) continue;
    const url = text(v);
    if (isWebSeedUrl(url) && !out.includes(url)) out.push(url);
  }
  return out;
}

function optionalText(d: BDict, key: string): string | undefined {
  // Optional descriptive keys: a wrong type is ignored rather than refusing a usable torrent.
  const utf8 = dictGet(d, `${key}.utf-8`);
  if (Buffer.isBuffer(utf8)) return text(utf8);
  const v = dictGet(d, key);
  return Buffer.isBuffer(v) ? text(v) : undefined;
}

function sha1(bytes: Uint8Array): Buffer {
  return createHash('sha1').update(bytes).digest();
}

function assemble(root: BDict, info: BDict, infoBytes: Buffer): Metainfo {
  const layout = layoutFromInfo(info);
  const infoHash = sha1(infoBytes);
  const announceValue = dictGet(root, 'announce');
  const announce =
    Buffer.isBuffer(announceValue) && announceValue.length > 0 ? text(announceValue) : undefined;
  const creationDate = dictGet(root, 'creation date');
  return {
    ...layout,
    infoHash,
    infoHashHex: infoHashHex(infoHash),
    infoBytes,
    announce,
    announceList: readTrackers(root, announce),
    // BEP 27: only the integer 1 makes a torrent private.
    private: dictGet(info, 'private') === 1,
    nodes: readNodes(root),
    webSeeds: readWebSeeds(root),
    comment: optionalText(root, 'comment'),
    createdBy: optionalText(root, 'created by'),
    creationDate: typeof creationDate === 'number' ? creationDate : undefined,
  };
}

/** Re-throws a bencode error with a message that says which document was bad. */
function withContext<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ChunkswarmError && err.code.startsWith('EBENCODE_')) {
      throw new ChunkswarmError(err.code, `${what}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Parses a .torrent file. The infohash is the SHA-1 of the exact `info` bytes as they appear in
 * the file (BEP 3), never of a re-encoding, so it matches what every other client computes.
 * Key order is not enforced (real torrents are not always sorted); duplicate keys are refused.
 */
export function parseMetainfo(input: Uint8Array, opts?: { maxBytes?: number }): Metainfo {
  const maxBytes = opts?.maxBytes ?? LIMITS.metainfoBytes;
  if (input.length > maxBytes) {
    tooBig(`torrent file is ${input.length} bytes, more than the ${maxBytes}-byte limit`);
  }
  // A private copy: the Metainfo's buffers are views into it, so a caller reusing its input
  // buffer cannot change a parsed torrent.
  const bytes = Buffer.from(input);
  const { value: root, spans } = withContext('not a valid torrent file', () =>
    decodeDictSpans(bytes, { strictKeyOrder: false, maxBytes }),
  );
  const infoValue = dictGet(root, 'info');
  if (infoValue === undefined) bad("not a torrent: 'info' dictionary missing");
  if (!isDict(infoValue)) bad("not a torrent: 'info' is not a dictionary");
  const span = spans.get('info')!;
  return assemble(root, infoValue, bytes.subarray(span.start, span.end));
}

/**
 * Builds a Metainfo from bare `info` bytes, as BEP 9 metadata exchange delivers them, with the
 * trackers known from elsewhere (a magnet link). Refuses bytes whose SHA-1 is not `expectedHash`.
 */
export function metainfoFromInfoBytes(
  infoBytes: Uint8Array,
  opts?: {
    expectedHash?: Uint8Array;
    trackers?: readonly string[];
    webSeeds?: readonly string[];
    maxBytes?: number;
  },
): Metainfo {
  const maxBytes = opts?.maxBytes ?? LIMITS.metainfoBytes;
  if (infoBytes.length > maxBytes) {
    tooBig(`metadata is ${infoBytes.length} bytes, more than the ${maxBytes}-byte limit`);
  }
  const bytes = Buffer.from(infoBytes);
  if (opts?.expectedHash !== undefined && !sha1(bytes).equals(Buffer.from(opts.expectedHash))) {
    bad('metadata does not match the infohash');
  }
  const info = withContext('not valid metadata', () => decode(bytes, { strictKeyOrder: false, maxBytes }));
  if (!isDict(info)) bad("not valid metadata: 'info' is not a dictionary");
  const trackers = [...new Set(opts?.trackers ?? [])];
  const root = new Map<string, BValue>();
  if (trackers.length > 0) {
    root.set('announce', Buffer.from(trackers[0]!, 'utf8'));
    root.set(
      'announce-list',
      trackers.map((t) => [Buffer.from(t, 'utf8')]),
    );
  }
  const webSeeds = [...new Set(opts?.webSeeds ?? [])];
  if (webSeeds.length > 0)
    root.set(
      'url-list',
      webSeeds.map((u) => Buffer.from(u, 'utf8')),
    );
  return assemble(root, info, bytes);
}
