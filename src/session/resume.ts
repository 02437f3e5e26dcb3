/**
 * Resume data: which chunks of a download were verified, with the size and modification time of each of
 * its files at the moment that was recorded. A start that finds every file exactly as recorded trusts
 * the list instead of hashing everything again; any write since (a crash mid-download), a changed or
 * missing file, or a record that does not read means the data is checked in full, as if there were no
 * record. The data stays the truth: the record only saves reading it again.
 */
import { open, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type BValue, decode, encode, getBytes, getInt, getList, isDict } from '../codec/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError, describeError, osReason } from '../shared/errors.js';
import { FileStorage, syncDir } from '../storage/file-storage.js';
import type { PieceHasher } from '../storage/index.js';
import type { TorrentSession } from './session.js';

/** A file's size and modification time in nanoseconds; size -1 when the file does not exist. */
export interface FileStamp {
  readonly size: number;
  readonly mtimeNs: bigint;
}

/**
 * Where a download with a file selection keeps its bytes: in the files listed (chosen now or before), and
 * for the others in the part file, whose stamp is kept like the files'.
 */
export interface Placement {
  readonly inFile: readonly number[];
  readonly part: FileStamp;
}

export interface ResumeRecord {
  readonly infoHash: Buffer;
  readonly pieces: Bitfield;
  readonly files: readonly FileStamp[];
  /** Absent: every file holds its own bytes (no selection, no part file). */
  readonly placement?: Placement | undefined;
  /**
   * Chunks not listed whose writes had begun when the files were stamped: their bytes may be on disk
   * under the same stamps, so a start that trusts the record hashes these. Absent: none.
   */
  readonly unsure?: Bitfield | undefined;
}

const MAGIC = 'chunkswarm resume';
/** 2: the placement of a selection. A version 1 record is no record (it may hide bytes in a part file). */
const VERSION = 2;
/** Any code will do: every decoding error is caught and means "no record". */
const CODE = 'ESTORAGE';
const MISSING: FileStamp = { size: -1, mtimeNs: 0n };

const stampValue = (f: FileStamp): BValue => [f.size, Buffer.from(f.mtimeNs.toString())];

export function encodeResume(r: ResumeRecord): Buffer {
  const d = new Map<string, BValue>([
    [MAGIC, VERSION],
    ['files', r.files.map(stampValue)],
    ['info hash', r.infoHash],
    ['pieces', Buffer.from(r.pieces.bytes)],
  ]);
  if (r.placement) {
    d.set('in file', [...r.placement.inFile]);
    d.set('part', stampValue(r.placement.part));
  }
  if (r.unsure && r.unsure.count > 0) d.set('unsure', Buffer.from(r.unsure.bytes));
  return encode(d);
}

function readStamp(f: BValue): FileStamp | undefined {
  if (!Array.isArray(f) || f.length !== 2) return undefined;
  const [size, mtime] = f;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < -1) return undefined;
  if (!Buffer.isBuffer(mtime) || !/^\d{1,25}$/.test(mtime.toString('latin1'))) return undefined;
  return { size, mtimeNs: BigInt(mtime.toString('latin1')) };
}

function bitsOf(raw: Buffer | undefined, pieceCount: number): Bitfield | undefined {
  return raw?.length === Math.ceil(pieceCount / 8) ? new Bitfield(pieceCount, raw) : undefined;
}

/** The record, or undefined when the bytes are not a resume record of this torrent. Never throws. */
export function decodeResume(
  bytes: Buffer,
  expect: { infoHash: Buffer; pieceCount: number; fileCount: number },
): ResumeRecord | undefined {
  try {
    const d = decode(bytes, { maxBytes: 64 * 1024 * 1024 });
    if (!isDict(d) || getInt(d, MAGIC, CODE) !== VERSION) return undefined;
    const infoHash = getBytes(d, 'info hash', CODE);
    if (!infoHash?.equals(expect.infoHash)) return undefined;
    const pieces = bitsOf(getBytes(d, 'pieces', CODE), expect.pieceCount);
    if (!pieces) return undefined;
    const unsureBits = getBytes(d, 'unsure', CODE);
    const unsure = unsureBits ? bitsOf(unsureBits, expect.pieceCount) : new Bitfield(expect.pieceCount);
    if (!unsure) return undefined;
    const list = getList(d, 'files', CODE);
    if (list?.length !== expect.fileCount) return undefined;
    const files: FileStamp[] = [];
    for (const f of list) {
      const stamp = readStamp(f);
      if (!stamp) return undefined;
      files.push(stamp);
    }
    const inFile = getList(d, 'in file', CODE);
    if (inFile === undefined) return { infoHash, pieces, files, unsure };
    if (!inFile.every((i) => typeof i === 'number' && Number.isSafeInteger(i) && i >= 0 && i < list.length))
      return undefined;
    const part = d.get('part');
    const partStamp = part === undefined ? undefined : readStamp(part);
    if (!partStamp) return undefined;
    return { infoHash, pieces, files, unsure, placement: { inFile: inFile as number[], part: partStamp } };
  } catch {
    // A torn or foreign file is no record at all: the data gets checked in full.
    return undefined;
  }
}

export async function stampFiles(paths: readonly string[]): Promise<FileStamp[]> {
  return Promise.all(
    paths.map(async (p) => {
      try {
        const st = await stat(p, { bigint: true });
        return st.isFile() ? { size: Number(st.size), mtimeNs: st.mtimeNs } : MISSING;
      } catch {
        return MISSING;
      }
    }),
  );
}

export function sameStamps(a: readonly FileStamp[], b: readonly FileStamp[]): boolean {
  return a.length === b.length && a.every((s, i) => s.size === b[i]!.size && s.mtimeNs === b[i]!.mtimeNs);
}

/**
 * Replaces `path` with `bytes` so that a crash or a full disk leaves either the old file or the new one,
 * never a torn one: temp file, fsync, rename, fsync of the folder.
 */
export async function writeStateFile(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const h = await open(tmp, 'w', 0o644);
  try {
    await h.writeFile(bytes);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** `DIR/<infohash>.resume`, written as DESIGN asks of state on disk: temp file, fsync, rename. */
export class ResumeFile {
  readonly path: string;

  constructor(dir: string, infoHashHex: string) {
    this.path = join(dir, `${infoHashHex}.resume`);
  }

  /** The record, when there is one of this torrent (whether or not the files are still as it says). */
  async read(expect: {
    infoHash: Buffer;
    pieceCount: number;
    fileCount: number;
  }): Promise<ResumeRecord | undefined> {
    let bytes: Buffer;
    try {
      const h = await open(this.path, 'r');
      try {
        bytes = await h.readFile();
      } finally {
        await h.close();
      }
    } catch {
      return undefined;
    }
    return decodeResume(bytes, expect);
  }

  /**
   * The verified chunks, when the record is this torrent's and every file (and the part file of a
   * selection) is as it recorded.
   */
  async load(
    expect: { infoHash: Buffer; pieceCount: number },
    storage: Pick<StampedStorage, 'paths' | 'partPath'>,
  ): Promise<Bitfield | undefined> {
    const record = await this.read({ ...expect, fileCount: storage.paths.length });
    return record && (await stillTrue(record, storage)) ? record.pieces : undefined;
  }

  save(record: ResumeRecord): Promise<void> {
    return writeStateFile(this.path, encodeResume(record));
  }
}

/** Every file, and the part file of a selection, is as the record stamped it. */
async function stillTrue(
  record: ResumeRecord,
  storage: Pick<StampedStorage, 'paths' | 'partPath'>,
): Promise<boolean> {
  if (!sameStamps(record.files, await stampFiles(storage.paths))) return false;
  if (!record.placement) return true;
  if (storage.partPath === undefined) return false;
  return sameStamps([record.placement.part], await stampFiles([storage.partPath]));
}

/**
 * What `keepResumeData` needs of the storage: where its files are, and a way to put them on disk; with a
 * selection, its part file and which files hold their own bytes (FileStorage has all of these).
 */
export interface StampedStorage {
  readonly paths: readonly string[];
  flush(): Promise<void>;
  readonly partPath?: string | undefined;
  isFileCreated?(fileIndex: number): boolean;
  /** The pieces it has begun to write since it opened, finished or not. */
  writesBegun?(): Bitfield;
}

async function placementOf(storage: StampedStorage): Promise<Placement | undefined> {
  if (storage.partPath === undefined || !storage.isFileCreated) return undefined;
  const inFile = storage.paths.map((_, i) => i).filter((i) => storage.isFileCreated!(i));
  const [part] = await stampFiles([storage.partPath]);
  return { inFile, part: part! };
}

/** A verified chunk is in the record at most this long after its verification (DESIGN: within a second). */
export const SAVE_WITHIN_MS = 1000;

/** What `keepResumeData` watches: the session's verified chunks, its events and its clock. */
export type ResumeSubject = Pick<TorrentSession, 'have' | 'infoHash' | 'complete' | 'events' | 'clock'>;

/**
 * Saves a session's resume data within a second of each verified chunk — while chunks keep coming, once a
 * second, not after they stop — at once when the torrent completes, and on `stop()`. Each save syncs the
 * data, then stamps the files, so the record never lists a chunk whose bytes are not on disk.
 *
 * A save starts as late as its oldest chunk allows, judging its length by the last one's: syncing is most
 * of a save, and saving again as soon as a save ended (with a second look for the chunks that came during
 * its sync) made a 3 s download of 1 GiB on loopback sync its file 35 times; now 6.
 */
export function keepResumeData(
  session: ResumeSubject,
  storage: StampedStorage,
  file: ResumeFile,
  onError: (message: string) => void,
): { stop(): Promise<void> } {
  const clock = session.clock;
  /**
   * When the oldest chunk that no save has listed yet was verified (the state found at start counts);
   * undefined while every verified chunk is listed.
   */
  let dirtySince: number | undefined = clock.now();
  /** How long the last save took, from listing the chunks to the record written; a guess until one has. */
  let lastSaveMs = SAVE_WITHIN_MS / 4;
  let saving: Promise<void> | undefined;
  let failed = false;
  let cancelTimer: (() => void) | undefined;
  const save = async (): Promise<void> => {
    const started = clock.now();
    dirtySince = undefined;
    const pieces = session.have.clone();
    try {
      await storage.flush();
      const files = await stampFiles(storage.paths);
      const placement = await placementOf(storage);
      // A chunk written while the data synced, or still being written, is covered by the stamps but not
      // listed (a file's time changes as its write begins): the next start hashes these few.
      const unsure = storage.writesBegun?.();
      if (unsure) for (const i of pieces.indexes()) unsure.clear(i);
      await file.save({ infoHash: session.infoHash, pieces, files, placement, unsure });
    } finally {
      lastSaveMs = clock.now() - started;
    }
  };
  /** Milliseconds until the next save must start for its oldest chunk to be in the record within its second. */
  const dueIn = (): number =>
    Math.max(0, (dirtySince ?? clock.now()) + SAVE_WITHIN_MS - lastSaveMs - clock.now());
  const saveOnce = (): Promise<void> => {
    saving ??= save()
      .catch((err: unknown) => {
        // Without resume data the next start checks everything: slower, never wrong. Say it once.
        if (!failed) onError(`cannot save resume data to ${file.path}: ${osReason(err)}`);
        failed = true;
      })
      .finally(() => {
        saving = undefined;
        // Chunks verified while this save ran are saved next, still within their second.
        if (dirtySince !== undefined) schedule(session.complete ? 0 : dueIn());
      });
    return saving;
  };
  /** A save is due in `ms` unless one is already planned sooner: verified chunks never push it later. */
  const schedule = (ms: number): void => {
    if (cancelTimer && ms > 0) return;
    cancelTimer?.();
    cancelTimer = clock.setTimeout(() => {
      cancelTimer = undefined;
      if (!saving) void saveOnce();
    }, ms);
  };
  const off = session.events.on('piece-verified', () => {
    dirtySince ??= clock.now();
    if (!saving) schedule(session.complete ? 0 : dueIn());
  });
  // The state found at start is worth a record too: a restart before anything arrives is then instant.
  schedule(dueIn());
  return {
    async stop() {
      off();
      cancelTimer?.();
      await saving;
      if (dirtySince !== undefined) await saveOnce();
    },
  };
}

/** The record's chunks, and those of its unsure ones whose bytes on disk hash right. */
async function withUnsure(
  record: ResumeRecord,
  storage: FileStorage,
  hasher: PieceHasher,
): Promise<Bitfield> {
  const have = record.pieces.clone();
  if (record.unsure && record.unsure.count > 0) {
    const found = await storage.verifyExisting({ hasher, only: record.unsure });
    for (const i of found.indexes()) have.set(i);
  }
  return have;
}

/**
 * Opens a download's files where the last run left their bytes, and finds what of them is verified: from
 * the record when everything is as it stamped, else by hashing. A different selection this time is then
 * made so: bytes of files that join it move out of the part file (FileStorage.setSelection); a file that
 * leaves it stays where it is. `files` undefined: every file.
 */
export async function openDownloadStorage(opts: {
  readonly metainfo: Metainfo;
  readonly contentPath: string;
  readonly partPath: string;
  readonly files: ReadonlySet<number> | undefined;
  readonly resume: ResumeFile;
  readonly hasher: PieceHasher;
}): Promise<{ storage: FileStorage; have: Bitfield; recorded: boolean }> {
  const m = opts.metainfo;
  const all = m.files.map((_, i) => i);
  const record = await opts.resume.read({
    infoHash: m.infoHash,
    pieceCount: m.pieceCount,
    fileCount: all.length,
  });
  let placed: Set<number> | undefined;
  if (record?.placement) placed = new Set(record.placement.inFile);
  else if (opts.files) {
    // The last run (if any) had every file in place: those on disk keep their bytes where they are.
    const onDisk = record
      ? (await stampFiles(new FileStorage(m, opts.contentPath).paths)).map((st) => st.size >= 0)
      : [];
    placed = new Set([...opts.files, ...all.filter((i) => onDisk[i])]);
  } else {
    // Every file chosen, but through a selection all the same: a file unticked later, before any of its
    // bytes arrived, then keeps its share of a boundary chunk in the part file and is never created.
    placed = new Set(all);
  }
  const storage = new FileStorage(
    m,
    opts.contentPath,
    placed ? { selection: { files: placed, partPath: opts.partPath } } : {},
  );
  const trusted = record !== undefined && (await stillTrue(record, storage));
  const have = trusted
    ? await withUnsure(record, storage, opts.hasher)
    : await storage.verifyExisting({ hasher: opts.hasher });
  if (placed) {
    try {
      await storage.setSelection(opts.files ?? new Set(all), have);
    } catch (err) {
      await storage.close().catch(() => {});
      throw new ChunkswarmError(
        'ESTORAGE',
        `cannot resume ${m.name} with this selection: moving its bytes out of ${opts.partPath} failed (${describeError(err)})`,
      );
    }
  }
  return { storage, have, recorded: trusted };
}
