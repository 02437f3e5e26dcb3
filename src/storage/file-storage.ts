import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { filePieces } from '../metainfo/selection.js';
import type { FileEntry, FileSpan, TorrentLayout } from '../metainfo/types.js';
import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError, storageError } from '../shared/errors.js';
import { directWritable } from './aligned.js';
import { PieceBufferPool, plainSharedBuffer } from './buffer-pool.js';
import { errnoCode, safeJoin } from './fs-errors.js';
import { checkInline, pieceHash } from './hasher.js';
import { checkWholePiece, pieceLengthOf, spansOf, zeroPadding } from './spans.js';
import { ordered, type Storage, type VerifyOptions } from './storage.js';

export interface FileStorageOptions {
  /** Never create, write or extend a file: for seeding data that is already complete. */
  readOnly?: boolean;
  /** Most file handles kept open at once; the least recently used idle one is closed beyond it. Default 64. */
  maxOpenFiles?: number;
  /**
   * Download only some files (`--select`): the files not in `files` are never created. Their bytes
   * that share a piece with a selected file (a piece at a file boundary is hashed whole, so it must
   * be stored whole) go to `partPath`, at the same offset they have in the torrent's byte stream: a
   * sparse file, stateless, that needs no index. Reads of such pieces come from it too.
   */
  selection?: { readonly files: ReadonlySet<number>; readonly partPath: string };
  /**
   * Write whole aligned pieces with O_DIRECT where the system and file system allow it (default true; see
   * `directWrites`). False: every write goes through the page cache.
   */
  directIo?: boolean;
}

/** O_DIRECT where Node knows it (Linux); undefined elsewhere. */
const O_DIRECT: number | undefined = (constants as { O_DIRECT?: number }).O_DIRECT;

/**
 * Where a download keeps the part file of a selection: beside its resume data, in the state folder
 * (`<out>/.chunkswarm`), never among the torrent's own files.
 */
export function partFilePath(stateDir: string, infoHashHex: string): string {
  return join(stateDir, `${infoHashHex}.parts`);
}

/** A run of piece bytes placed in one on-disk file: a torrent file, or the part file (index = file count). */
interface Placed {
  readonly handle: number;
  readonly position: number;
  readonly pieceOffset: number;
  readonly length: number;
}

interface OpenFile {
  readonly index: number;
  readonly handle: FileHandle;
  readonly writable: boolean;
  /** The same file opened with O_DIRECT, for aligned piece writes (see FileStorage.directWrites). */
  direct: FileHandle | undefined;
  users: number;
  dirty: boolean;
  retired: boolean;
  /** The last write issued to this file, settled or not: the next one waits for it (see writeInTurn). */
  lastWrite: Promise<void>;
}

/** A file ended before the bytes the torrent places in it: during verification that means "missing". */
class ShortFileError extends ChunkswarmError {}

/**
 * The standard layout every BitTorrent client uses: the torrent's files at their paths under the
 * content root, a piece being a window on their concatenation, so one piece may be split over
 * several files.
 */
export class FileStorage implements Storage {
  readonly layout: TorrentLayout;
  readonly readsFromDisk = true;
  readonly contentPath: string;
  readonly readOnly: boolean;
  readonly #paths: readonly string[];
  readonly #maxOpen: number;
  /** Open handles, least recently used first (a Map iterates in insertion order). */
  readonly #open = new Map<number, OpenFile>();
  readonly #opening = new Map<number, Promise<OpenFile>>();
  readonly #closing = new Set<Promise<void>>();
  /** Folders that gained an entry since the last flush: their own fsync makes the new names durable. */
  readonly #newEntriesIn = new Set<string>();
  #deferredError: ChunkswarmError | undefined;
  #closed = false;
  /** Whether to try O_DIRECT for the next file opened for writing (off once the file system refused it). */
  #directIo: boolean;
  /**
   * Piece writes (or parts of one, in files) that went to the disk with O_DIRECT: from the piece's buffer to
   * the device, without a copy into the page cache. A downloader does not read its pieces back soon (it hashed
   * them in memory, and its read cache serves the newest to peers), and that copy was its largest single cost
   * in a 1 GiB download: 43% of its CPU samples on a virtual machine whose host hands out fresh pages slowly.
   * Buffers from alignedBuffer at aligned file offsets qualify (a torrent's last piece, or a piece at an odd
   * place in a file, goes through the page cache), on Linux file systems that accept O_DIRECT.
   */
  directWrites = 0;
  /** 1 for a file whose bytes live in the file itself; 0 for one whose bytes go to the part file. */
  readonly #inFile: Uint8Array;
  readonly #partPath: string | undefined;
  /** Reads and writes under way; setSelection waits for them, and new ones wait for it (#gate). */
  #active = 0;
  #drained: (() => void) | undefined;
  #gate: Promise<void> | undefined;
  /** Pieces written or found verified by this storage: setSelection moves their bytes even if the caller's `have` does not list them yet. */
  readonly #stored: Bitfield;
  /** Pieces whose writes have begun since the storage opened: a resume record hashes those it does not list. */
  readonly #begun: Bitfield;

  constructor(layout: TorrentLayout, contentPath: string, opts: FileStorageOptions = {}) {
    this.layout = layout;
    this.contentPath = resolve(contentPath);
    this.readOnly = opts.readOnly ?? false;
    this.#maxOpen = Math.max(1, opts.maxOpenFiles ?? 64);
    this.#directIo = opts.directIo !== false && O_DIRECT !== undefined;
    if (!layout.multiFile) {
      if (layout.files.length !== 1) {
        throw new ChunkswarmError(
          'ESTORAGE',
          `a single-file torrent must list one file, not ${layout.files.length}`,
        );
      }
      this.#paths = [this.contentPath];
    } else {
      this.#paths = layout.files.map((f) => safeJoin(this.contentPath, f.path));
    }
    this.#inFile = new Uint8Array(layout.files.length).fill(1);
    this.#stored = new Bitfield(layout.pieceCount);
    this.#begun = new Bitfield(layout.pieceCount);
    const sel = opts.selection;
    if (sel) {
      this.#partPath = resolve(sel.partPath);
      this.#inFile.fill(0);
      for (const i of sel.files) this.#checkFileIndex(i);
      for (const i of sel.files) this.#inFile[i] = 1;
      if (this.#paths.includes(this.#partPath)) {
        throw new ChunkswarmError(
          'ESTORAGE',
          `the part file ${this.#partPath} is one of the torrent's files`,
        );
      }
    }
  }

  /** The part file of a selection (see FileStorageOptions.selection); undefined without one. */
  get partPath(): string | undefined {
    return this.#partPath;
  }

  /** Whether file `fileIndex`'s bytes live in the file itself (selected now or before), not in the part file. */
  isFileCreated(fileIndex: number): boolean {
    this.#checkFileIndex(fileIndex);
    return this.#inFile[fileIndex] === 1;
  }

  /**
   * Adds files to the selection while the download runs. The bytes of each newly selected file
   * that are already held (pieces `have` marks, or that this storage wrote or verified) move
   * from the part file into the file; reads and writes wait meanwhile, so none sees a half-moved
   * piece. A file that leaves the selection stays where it is when it already has bytes (or exists on
   * disk): the picker simply stops fetching its pieces, and this never removes a file or moves bytes
   * back. One that has none yet goes to the part file, so a chunk it shares with a chosen file does not
   * create it.
   */
  async setSelection(files: ReadonlySet<number>, have: Bitfield): Promise<void> {
    this.#checkOpen();
    for (const i of files) this.#checkFileIndex(i);
    if (this.#partPath === undefined) return; // without a selection, every file is in place already
    while (this.#gate) await this.#gate;
    const added = [...files].filter((i) => this.#inFile[i] === 0).sort((a, b) => a - b);
    const leaving = this.layout.files.some((f, i) => !files.has(i) && this.#inFile[i] === 1 && f.length > 0);
    if (added.length === 0 && (!leaving || this.readOnly)) return;
    if (this.readOnly) {
      throw new ChunkswarmError(
        'ESTORAGE',
        `cannot add files under ${this.contentPath}: storage is read-only`,
      );
    }
    let open!: () => void;
    this.#gate = new Promise<void>((r) => {
      open = r;
    });
    try {
      if (this.#active > 0) await new Promise<void>((r) => (this.#drained = r));
      await this.#releaseUntouched(files, have);
      const partIndex = this.#paths.length;
      for (const f of added) {
        const file = this.layout.files[f]!;
        if (file.length === 0) {
          // A zero-length file has no piece to bring it; create it now, as prepare would have.
          await this.#withFile(f, true, 'create', async () => {});
          this.#inFile[f] = 1;
          continue;
        }
        const { first, last } = filePieces(this.layout, f)!;
        const moves: FileSpan[] = [];
        for (let p = first; p <= last; p++) {
          if (!have.has(p) && !this.#stored.has(p)) continue;
          for (const s of spansOf(this.layout, p)) if (s.fileIndex === f) moves.push(s);
        }
        const buf = Buffer.allocUnsafe(Math.min(this.layout.pieceLength, file.length));
        for (const s of moves) {
          const out = buf.subarray(0, s.length);
          await this.#withFile(partIndex, false, 'read', (h) =>
            this.#readFully(h, out, 0, s.length, file.offset + s.fileOffset),
          );
          await this.#withFile(f, true, 'write', (h) =>
            this.#write(h, { data: out, at: 0, length: s.length, position: s.fileOffset }),
          );
        }
        this.#inFile[f] = 1;
      }
    } finally {
      this.#gate = undefined;
      open();
    }
  }

  /**
   * Files leaving the selection that hold no byte yet and are not on disk: their bytes go to the part file.
   * Called with the gate shut and no read or write under way, so no write is creating one meanwhile.
   */
  async #releaseUntouched(files: ReadonlySet<number>, have: Bitfield): Promise<void> {
    for (let f = 0; f < this.layout.files.length; f++) {
      const range = files.has(f) || this.#inFile[f] === 0 ? undefined : filePieces(this.layout, f);
      if (!range) continue; // chosen, already out of the way, or zero-length
      let held = false;
      for (let p = range.first; p <= range.last && !held; p++) held = have.has(p) || this.#stored.has(p);
      if (!held && !(await exists(this.#paths[f]!))) this.#inFile[f] = 0;
    }
  }

  /** Where each file of the torrent lives on disk, in the torrent's order. */
  get paths(): readonly string[] {
    return this.#paths;
  }

  /** Where file `fileIndex` of the torrent lives on disk. */
  pathOf(fileIndex: number): string {
    const p = this.#paths[fileIndex];
    if (p === undefined) throw new ChunkswarmError('ESTORAGE', `the torrent has no file number ${fileIndex}`);
    return p;
  }

  /**
   * Makes every folder of the torrent and its zero-length files, which no piece ever writes.
   * Existing files are left as they are. Does nothing for a read-only storage.
   */
  async prepare(): Promise<void> {
    this.#checkOpen();
    if (this.readOnly) return;
    const dirs = new Set(this.#paths.filter((_, i) => this.#inFile[i] === 1).map((p) => dirname(p)));
    for (const dir of dirs) await this.#mkdirs(dir);
    for (let i = 0; i < this.#paths.length; i++) {
      if (this.layout.files[i]!.length !== 0 || this.#inFile[i] === 0) continue;
      const path = this.#paths[i]!;
      try {
        // O_CREAT without O_TRUNC: an existing file keeps its bytes.
        const h = await open(path, constants.O_WRONLY | constants.O_CREAT, modeOf(this.layout.files[i]));
        await h.close();
        this.#newEntriesIn.add(dirname(path));
      } catch (err) {
        throw storageError('create', path, err);
      }
    }
  }

  async read(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer> {
    this.#checkOpen();
    const inFiles = spansOf(this.layout, index, begin, length);
    const spans = this.#place(inFiles);
    const out =
      into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    zeroPadding(this.layout, out, inFiles, begin);
    await this.#guarded(() =>
      settleAll(
        spans.map((s) =>
          this.#withFile(s.handle, false, 'read', async (f) => {
            await this.#readFully(f, out, s.pieceOffset - begin, s.length, s.position);
          }),
        ),
      ),
    );
    return out;
  }

  async writePiece(index: number, data: Buffer): Promise<void> {
    this.#checkOpen();
    if (this.readOnly) {
      throw new ChunkswarmError(
        'ESTORAGE',
        `cannot write piece ${index} under ${this.contentPath}: storage is read-only`,
      );
    }
    checkWholePiece(this.layout, index, data);
    const spans = spansOf(this.layout, index);
    this.#begun.set(index);
    await this.#guarded(async () => {
      await settleAll(
        this.#place(spans).map((s) =>
          this.#withFile(s.handle, true, 'write', (f) =>
            this.#write(f, { data, at: s.pieceOffset, length: s.length, position: s.position }),
          ),
        ),
      );
      // Inside the guard: a selection change that waits for this write then sees the piece as stored.
      this.#stored.set(index);
    });
  }

  /** Where each span's bytes are on disk: in its file, or in the part file when that file is not selected. */
  #place(spans: readonly FileSpan[]): Placed[] {
    const partIndex = this.#paths.length;
    return spans.map((s) =>
      this.#inFile[s.fileIndex] === 1
        ? { handle: s.fileIndex, position: s.fileOffset, pieceOffset: s.pieceOffset, length: s.length }
        : {
            handle: partIndex,
            position: this.layout.files[s.fileIndex]!.offset + s.fileOffset,
            pieceOffset: s.pieceOffset,
            length: s.length,
          },
    );
  }

  async #guarded<T>(op: () => Promise<T>): Promise<T> {
    // Without a selection nothing ever moves: no bookkeeping on the hot path.
    if (this.#partPath === undefined) return op();
    while (this.#gate !== undefined) await this.#gate;
    this.#active++;
    try {
      return await op();
    } finally {
      this.#active--;
      if (this.#active === 0 && this.#drained) {
        const wake = this.#drained;
        this.#drained = undefined;
        wake();
      }
    }
  }

  #checkFileIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.layout.files.length) {
      throw new ChunkswarmError(
        'ESTORAGE',
        `the torrent has no file number ${i}: it has ${this.layout.files.length} (0 to ${this.layout.files.length - 1})`,
      );
    }
  }

  /** The on-disk path behind a handle index: a torrent file, or the part file. */
  #diskPath(index: number): string {
    return index === this.#paths.length ? this.#partPath! : this.#paths[index]!;
  }

  /** A copy of the pieces whose writes have begun since the storage opened, finished or not. */
  writesBegun(): Bitfield {
    return this.#begun.clone();
  }

  async verifyExisting(opts: VerifyOptions = {}): Promise<Bitfield> {
    this.#checkOpen();
    const { layout } = this;
    const onDisk = this.#partPath === undefined ? this.#paths : [...this.#paths, this.#partPath];
    const sizes = await Promise.all(
      onDisk.map(async (p) => {
        try {
          const st = await stat(p);
          return st.isFile() ? st.size : -1;
        } catch (err) {
          const code = errnoCode(err);
          if (code === 'ENOENT' || code === 'ENOTDIR') return -1;
          throw storageError('read', p, err);
        }
      }),
    );
    const bits = new Bitfield(layout.pieceCount);
    const hasher = checkInline(layout) ? undefined : opts.hasher;
    const window = hasher ? hasher.threads + 2 : 2;
    // Each piece is read into one of a few buffers used over and over: a fresh buffer per piece faulted in
    // new memory for every byte checked, which on a virtual machine cost five times the hashing (64 MiB:
    // 230 ms of wall against 60). Shared memory, so a hashing worker reads them where they are.
    const buffers = new PieceBufferPool(window, plainSharedBuffer);
    await ordered(
      layout.pieceCount,
      window,
      async (i) => {
        if (opts.only && !opts.only.has(i)) return false;
        const spans = this.#place(spansOf(layout, i));
        if (!spans.every((s) => sizes[s.handle]! >= s.position + s.length)) return false;
        // A piece with no byte in a selected file is not wanted: do not hash the part file's holes.
        if (this.#partPath !== undefined && spans.every((s) => s.handle === this.#paths.length)) return false;
        const buffer = buffers.take(layout.pieceLength);
        try {
          const data = await this.read(i, 0, pieceLengthOf(layout, i), buffer);
          const digest = hasher ? await hasher.sha1(data) : createHash('sha1').update(data).digest();
          return digest.equals(pieceHash(layout, i));
        } catch (err) {
          // Truncated or removed while we looked: the same as never there.
          if (err instanceof ShortFileError) return false;
          if (err instanceof ChunkswarmError && errnoCode(err.cause) === 'ENOENT') return false;
          throw err;
        } finally {
          buffers.give(buffer);
        }
      },
      (i, ok) => {
        if (ok) {
          bits.set(i);
          this.#stored.set(i);
        }
        opts.onProgress?.(i + 1, layout.pieceCount);
      },
    );
    return bits;
  }

  async flush(): Promise<void> {
    this.#checkOpen();
    await this.#flush();
  }

  /**
   * Closes every file without forcing it to disk: what is written is in the OS's cache, and every start
   * hashes the data again, so a lost write is found, never trusted. An fsync of a whole torrent at exit
   * would cost seconds; `flush()` is there for callers that record state about the data.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    let failure: unknown;
    this.#closed = true;
    for (const f of [...this.#open.values()]) {
      this.#open.delete(f.index);
      f.dirty = false;
      this.#retire(f);
    }
    while (this.#closing.size > 0) await Promise.all(this.#closing);
    if (this.#deferredError && !failure) failure = this.#deferredError;
    if (failure) throw failure;
  }

  async #flush(): Promise<void> {
    const dirty = [...this.#open.values()].filter((f) => f.dirty);
    for (const f of dirty) f.dirty = false;
    await Promise.all(
      dirty.map(async (f) => {
        f.users++;
        try {
          await f.handle.datasync();
        } catch (err) {
          f.dirty = true;
          throw storageError('sync', this.#diskPath(f.index), err);
        } finally {
          this.#release(f);
        }
      }),
    );
    // Evicted handles sync their writes as they close; this flush covers those writes too.
    while (this.#closing.size > 0) await Promise.all(this.#closing);
    const dirs = [...this.#newEntriesIn];
    this.#newEntriesIn.clear();
    await Promise.all(dirs.map((d) => syncDir(d)));
    if (this.#deferredError) {
      const err = this.#deferredError;
      this.#deferredError = undefined;
      throw err;
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new ChunkswarmError('ESTORAGE', `storage for ${this.contentPath} is closed`);
  }

  async #withFile<T>(
    index: number,
    write: boolean,
    verb: string,
    fn: (f: OpenFile) => Promise<T>,
  ): Promise<T> {
    const f = await this.#acquire(index, write);
    try {
      return await fn(f);
    } catch (err) {
      throw storageError(verb, this.#diskPath(index), err);
    } finally {
      this.#release(f);
    }
  }

  async #acquire(index: number, write: boolean): Promise<OpenFile> {
    for (;;) {
      this.#checkOpen();
      const cur = this.#open.get(index);
      if (cur && (cur.writable || !write)) {
        cur.users++;
        this.#open.delete(index);
        this.#open.set(index, cur);
        return cur;
      }
      const pending = this.#opening.get(index);
      if (pending) {
        // Someone is opening this file already; use their handle if it fits, else open our own after.
        await pending.catch(() => {});
        continue;
      }
      const opening = this.#openFile(index, write);
      this.#opening.set(index, opening);
      try {
        return await opening;
      } finally {
        this.#opening.delete(index);
      }
    }
  }

  /** Opens file `index` into the cache, already in use by the caller (so eviction cannot take it). */
  async #openFile(index: number, write: boolean): Promise<OpenFile> {
    const path = this.#diskPath(index);
    let handle: FileHandle;
    if (!write) {
      try {
        handle = await open(path, 'r');
      } catch (err) {
        throw storageError('read', path, err);
      }
    } else {
      try {
        handle = await open(path, constants.O_RDWR);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw storageError('write', path, err);
        try {
          await this.#mkdirs(dirname(path));
          handle = await open(path, constants.O_RDWR | constants.O_CREAT, modeOf(this.layout.files[index]));
          this.#newEntriesIn.add(dirname(path));
        } catch (err2) {
          throw storageError('create', path, err2);
        }
      }
    }
    const direct = write ? await this.#openDirect(path) : undefined;
    // Closed while the file was being opened: nothing after this check awaits, so no handle outlives close().
    if (this.#closed) {
      await handle.close().catch(() => {});
      await direct?.close().catch(() => {});
      this.#checkOpen();
    }
    const old = this.#open.get(index);
    if (old) {
      // A read-only handle gives way to the writable one; it closes when its last reader is done.
      this.#open.delete(index);
      this.#retire(old);
    }
    const entry: OpenFile = {
      index,
      handle,
      writable: write,
      direct,
      users: 1,
      dirty: false,
      retired: false,
      lastWrite: Promise.resolve(),
    };
    this.#open.set(index, entry);
    this.#evict();
    return entry;
  }

  /** Writes a span in its file's turn, counting it in directWrites when it went with O_DIRECT. */
  async #write(f: OpenFile, span: SpanWrite): Promise<void> {
    if (await writeInTurn(f, span)) this.directWrites++;
  }

  /**
   * The file opened once more with O_DIRECT; undefined where that cannot be (tmpfs before Linux 6.6, some
   * network and FUSE file systems).
   */
  async #openDirect(path: string): Promise<FileHandle | undefined> {
    if (!this.#directIo || O_DIRECT === undefined) return undefined;
    try {
      return await open(path, constants.O_WRONLY | O_DIRECT);
    } catch (err) {
      const code = errnoCode(err);
      // The file system's answer holds for every file under the same root: stop asking.
      if (code === 'EINVAL' || code === 'EOPNOTSUPP' || code === 'ENOTSUP') this.#directIo = false;
      return undefined;
    }
  }

  async #mkdirs(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    // mkdir returns the topmost folder it created: it and every folder below it up to `dir` are new
    // names in their parents.
    if (first === undefined) return;
    for (let d = resolve(dir); d !== first && dirname(d) !== d; d = dirname(d))
      this.#newEntriesIn.add(dirname(d));
    this.#newEntriesIn.add(dirname(first));
  }

  #evict(): void {
    for (const f of this.#open.values()) {
      if (this.#open.size <= this.#maxOpen) return;
      if (f.users > 0) continue;
      this.#open.delete(f.index);
      this.#retire(f);
    }
  }

  #release(f: OpenFile): void {
    f.users--;
    if (f.retired && f.users === 0) this.#closeHandle(f);
  }

  #retire(f: OpenFile): void {
    f.retired = true;
    if (f.users === 0) this.#closeHandle(f);
  }

  #closeHandle(f: OpenFile): void {
    const path = this.#diskPath(f.index);
    const done = (async () => {
      try {
        // An evicted handle with unsynced writes is synced now, so a later flush() still covers them.
        if (f.dirty) await f.handle.datasync();
        await f.handle.close();
      } catch (err) {
        this.#deferredError ??= storageError('sync', path, err);
        await f.handle.close().catch(() => {});
      } finally {
        await f.direct?.close().catch(() => {});
      }
    })();
    this.#closing.add(done);
    void done.finally(() => this.#closing.delete(done));
  }

  async #readFully(f: OpenFile, out: Buffer, at: number, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await f.handle.read(out, at + done, length - done, position + done);
      if (bytesRead === 0) {
        const file = this.layout.files[f.index];
        throw new ShortFileError(
          'ESTORAGE',
          file
            ? `cannot read ${this.#paths[f.index]}: the file ends at byte ${position + done}, but the torrent has ${file.length} bytes in it`
            : `cannot read ${this.#partPath}: the part file ends at byte ${position + done}, before bytes it should hold`,
        );
      }
      done += bytesRead;
    }
  }
}

/** Bytes `at` to `at + length` of `data`, for the file at `position`. */
interface SpanWrite {
  readonly data: Buffer;
  readonly at: number;
  readonly length: number;
  readonly position: number;
}

/**
 * Writes after the file's writes issued before it. The kernel lets one buffered write into a file at a
 * time (its inode lock): pieces written at once spun on that lock, 5% of a 1 GiB download's CPU samples,
 * and went no faster; one at a time they leave the pool's other threads free.
 */
function writeInTurn(f: OpenFile, span: SpanWrite): Promise<boolean> {
  const write = f.lastWrite.then(() => writeSpan(f, span));
  f.lastWrite = write.then(
    () => {},
    () => {},
  );
  return write;
}

/**
 * With O_DIRECT when the span allows it (see FileStorage.directWrites), through the page cache otherwise;
 * true when it went with O_DIRECT.
 */
async function writeSpan(f: OpenFile, span: SpanWrite): Promise<boolean> {
  const direct = f.direct;
  if (direct && directWritable(span.data, span.at, span.length, span.position)) {
    try {
      await writeFully(direct, span);
      f.dirty = true;
      return true;
    } catch (err) {
      // A device that wants a larger alignment, or a file system that took the open but not the write:
      // this file goes through the page cache from now on, and this write is done again there, whole.
      if (errnoCode(err) !== 'EINVAL') throw err;
      f.direct = undefined;
      await direct.close().catch(() => {});
    }
  }
  await writeFully(f.handle, span);
  f.dirty = true;
  return false;
}

async function writeFully(h: FileHandle, { data, at, length, position }: SpanWrite): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await h.write(data, at + done, length - done, position + done);
    done += bytesWritten;
  }
}

/** fsync a folder so the names created in it survive a crash; some systems cannot, which is harmless. */
export async function syncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EISDIR' || code === 'EINVAL' || code === 'EPERM' || code === 'EBADF' || code === 'ENOENT')
      return;
    throw storageError('sync folder', dir, err);
  } finally {
    await h?.close().catch(() => {});
  }
}

/** Whether something is at `path` (a file we would otherwise create). */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Permissions a new file is created with (less the umask): executable when the torrent says so (BEP 47 'x'). */
export function modeOf(file: FileEntry | undefined): number {
  return file?.executable ? 0o777 : 0o666;
}

/**
 * Waits for every one of `ops`, then throws the first failure, if any: a piece read or written in several
 * files is not reported failed while its other parts are still being read or written (a caller that then
 * closes the storage, or removes the folder, would race them).
 */
async function settleAll(ops: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(ops)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
