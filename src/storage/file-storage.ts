import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { TorrentLayout } from '../metainfo/types.js';
import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError } from '../shared/errors.js';
import { errnoCode, safeJoin, storageError } from './fs-errors.js';
import { pieceHash } from './hasher.js';
import { checkWholePiece, pieceLengthOf, spansOf } from './spans.js';
import { ordered, type Storage, type VerifyOptions } from './storage.js';

export interface FileStorageOptions {
  /** Never create, write or extend a file: for seeding data that is already complete. */
  readOnly?: boolean;
  /** Most file handles kept open at once; the least recently used idle one is closed beyond it. Default 64. */
  maxOpenFiles?: number;
}

interface OpenFile {
  readonly index: number;
  readonly handle: FileHandle;
  readonly writable: boolean;
  users: number;
  dirty: boolean;
  retired: boolean;
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

  constructor(layout: TorrentLayout, contentPath: string, opts: FileStorageOptions = {}) {
    this.layout = layout;
    this.contentPath = resolve(contentPath);
    this.readOnly = opts.readOnly ?? false;
    this.#maxOpen = Math.max(1, opts.maxOpenFiles ?? 64);
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
    const dirs = new Set(this.#paths.map((p) => dirname(p)));
    for (const dir of dirs) await this.#mkdirs(dir);
    for (let i = 0; i < this.#paths.length; i++) {
      if (this.layout.files[i]!.length !== 0) continue;
      const path = this.#paths[i]!;
      try {
        // O_CREAT without O_TRUNC: an existing file keeps its bytes.
        const h = await open(path, constants.O_WRONLY | constants.O_CREAT, 0o666);
        await h.close();
        this.#newEntriesIn.add(dirname(path));
      } catch (err) {
        throw storageError('create', path, err);
      }
    }
  }

  async read(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer> {
    this.#checkOpen();
    const spans = spansOf(this.layout, index, begin, length);
    const out =
      into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    await Promise.all(
      spans.map((s) =>
        this.#withFile(s.fileIndex, false, 'read', async (f) => {
          await this.#readFully(f, out, s.pieceOffset - begin, s.length, s.fileOffset);
        }),
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
    await Promise.all(
      spans.map((s) =>
        this.#withFile(s.fileIndex, true, 'write', async (f) => {
          let done = 0;
          while (done < s.length) {
            const { bytesWritten } = await f.handle.write(
              data,
              s.pieceOffset + done,
              s.length - done,
              s.fileOffset + done,
            );
            done += bytesWritten;
          }
          f.dirty = true;
        }),
      ),
    );
  }

  async verifyExisting(opts: VerifyOptions = {}): Promise<Bitfield> {
    this.#checkOpen();
    const { layout } = this;
    const sizes = await Promise.all(
      this.#paths.map(async (p) => {
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
    const hasher = opts.hasher;
    const window = hasher ? hasher.threads + 2 : 2;
    await ordered(
      layout.pieceCount,
      window,
      async (i) => {
        const spans = spansOf(layout, i);
        if (!spans.every((s) => sizes[s.fileIndex]! >= s.fileOffset + s.length)) return false;
        let data: Buffer;
        try {
          data = await this.read(i, 0, pieceLengthOf(layout, i));
        } catch (err) {
          // Truncated or removed while we looked: the same as never there.
          if (err instanceof ShortFileError) return false;
          if (err instanceof ChunkswarmError && errnoCode(err.cause) === 'ENOENT') return false;
          throw err;
        }
        // The buffer is ours alone, so the hasher may take it without a copy.
        const digest = hasher
          ? await hasher.sha1(data, { transfer: true })
          : createHash('sha1').update(data).digest();
        return digest.equals(pieceHash(layout, i));
      },
      (i, ok) => {
        if (ok) bits.set(i);
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
          throw storageError('sync', this.#paths[f.index]!, err);
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
      throw storageError(verb, this.#paths[index]!, err);
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
    const path = this.#paths[index]!;
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
          handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o666);
          this.#newEntriesIn.add(dirname(path));
        } catch (err2) {
          throw storageError('create', path, err2);
        }
      }
    }
    if (this.#closed) {
      await handle.close().catch(() => {});
      this.#checkOpen();
    }
    const old = this.#open.get(index);
    if (old) {
      // A read-only handle gives way to the writable one; it closes when its last reader is done.
      this.#open.delete(index);
      this.#retire(old);
    }
    const entry: OpenFile = { index, handle, writable: write, users: 1, dirty: false, retired: false };
    this.#open.set(index, entry);
    this.#evict();
    return entry;
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
    const path = this.#paths[f.index]!;
    const done = (async () => {
      try {
        // An evicted handle with unsynced writes is synced now, so a later flush() still covers them.
        if (f.dirty) await f.handle.datasync();
        await f.handle.close();
      } catch (err) {
        this.#deferredError ??= storageError('sync', path, err);
        await f.handle.close().catch(() => {});
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
        throw new ShortFileError(
          'ESTORAGE',
          `cannot read ${this.#paths[f.index]}: the file ends at byte ${position + done}, but the torrent has ${this.layout.files[f.index]!.length} bytes in it`,
        );
      }
      done += bytesRead;
    }
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
