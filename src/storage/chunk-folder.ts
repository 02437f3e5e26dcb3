import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, lstat, mkdir, open, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { wantedPieces } from '../metainfo/selection.js';
import type { TorrentLayout } from '../metainfo/types.js';
import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError, storageError } from '../shared/errors.js';
import { modeOf, syncDir } from './file-storage.js';
import { errnoCode, safeJoin } from './fs-errors.js';
import { type PieceHasher, pieceHash } from './hasher.js';
import { checkIndex, checkRange, checkWholePiece, pieceLengthOf, spansOf } from './spans.js';
import { ordered, type Storage, type VerifyOptions } from './storage.js';

/**
 * The seed assignment's "memory folder": each piece in its own file `<name>.part<index>`. A chunk
 * is written under a temporary name, synced, then renamed, so after a crash a chunk file under its
 * real name is always whole (rename within one folder is atomic).
 */
export class ChunkFolderStorage implements Storage {
  readonly layout: TorrentLayout;
  readonly readsFromDisk = true;
  readonly dir: string;
  readonly #held = new Set<number>();
  /** Chunks written while a verification runs: it may have looked before they landed. */
  readonly #writtenSinceVerify = new Set<number>();
  #dirMade = false;
  #dirDirty = false;
  #closed = false;

  constructor(layout: TorrentLayout, dir: string) {
    this.layout = layout;
    this.dir = resolve(dir);
    // The torrent's name starts every chunk file name, so it must be one safe path component.
    safeJoin(this.dir, [layout.name]);
  }

  chunkFileName(index: number): string {
    checkIndex(this.layout, index);
    return `${this.layout.name}.part${index}`;
  }

  chunkPath(index: number): string {
    return join(this.dir, this.chunkFileName(index));
  }

  /** Pieces whose chunk file is known good: found by the last verifyExisting, or written since. */
  held(): number[] {
    return [...this.#held].sort((a, b) => a - b);
  }

  async read(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer> {
    this.#checkOpen();
    checkRange(this.layout, index, begin, length);
    const path = this.chunkPath(index);
    if (!this.#held.has(index)) {
      throw new ChunkswarmError('ESTORAGE', `cannot read ${path}: chunk ${index} is not held`);
    }
    let h: FileHandle | undefined;
    try {
      h = await open(path, 'r');
      const out =
        into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
      await readFully(h, out, length, begin, path);
      return out;
    } catch (err) {
      throw storageError('read', path, err);
    } finally {
      await h?.close().catch(() => {});
    }
  }

  async writePiece(index: number, data: Buffer): Promise<void> {
    this.#checkOpen();
    checkWholePiece(this.layout, index, data);
    const path = this.chunkPath(index);
    const tmp = join(this.dir, `.chunkswarm-${index}-${randomBytes(6).toString('hex')}.tmp`);
    let h: FileHandle | undefined;
    try {
      await this.#makeDir();
      h = await open(tmp, 'wx');
      let done = 0;
      while (done < data.length) done += (await h.write(data, done, data.length - done, done)).bytesWritten;
      // Without this sync a crash after the rename can leave the real name pointing at empty blocks.
      await h.datasync();
      await h.close();
      h = undefined;
      await rename(tmp, path);
    } catch (err) {
      await h?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw storageError('write', path, err);
    }
    this.#dirDirty = true;
    this.#held.add(index);
    this.#writtenSinceVerify.add(index);
  }

  /**
   * Hashes every chunk file present. A file of the wrong size or hash is not held and is left
   * where it is (the user may want to look at it); writing that piece later replaces it.
   */
  async verifyExisting(opts: VerifyOptions = {}): Promise<Bitfield> {
    this.#checkOpen();
    const { layout } = this;
    const present = new Set<number>();
    this.#writtenSinceVerify.clear();
    let names: string[] = [];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw storageError('read folder', this.dir, err);
    }
    const prefix = `${layout.name}.part`;
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      const digits = name.slice(prefix.length);
      // No zero padding: "part7" is chunk 7, "part007" is some other file.
      if (!/^(0|[1-9][0-9]{0,9})$/.test(digits)) continue;
      const index = Number(digits);
      if (index < layout.pieceCount) present.add(index);
    }
    const bits = new Bitfield(layout.pieceCount);
    const hasher = opts.hasher;
    await ordered(
      layout.pieceCount,
      hasher ? hasher.threads + 2 : 2,
      async (i) => {
        if (!present.has(i) || (opts.only && !opts.only.has(i))) return false;
        const data = await this.#readChunk(i);
        if (typeof data === 'string') return false;
        const digest = hasher ? await hasher.sha1(data, { transfer: true }) : sha1(data);
        return digest.equals(pieceHash(layout, i));
      },
      (i, ok) => {
        if (ok) bits.set(i);
        opts.onProgress?.(i + 1, layout.pieceCount);
      },
    );
    this.#held.clear();
    for (const i of this.#writtenSinceVerify) bits.set(i);
    for (const i of bits.indexes()) this.#held.add(i);
    return bits;
  }

  /**
   * Streams every chunk, in numeric order, into the torrent's files at `targetContentPath` (the
   * file of a single-file torrent, the root folder of a multi-file one), checking each chunk's
   * SHA-1 on the way. Output goes to temporary files renamed only once everything is written, so
   * a corrupt or missing chunk leaves no half-merged file behind. A file already at a target path is
   * never replaced: the merge is refused before anything is written (a class often keeps the seeder's
   * own copy in the folder a peer merges into, and a stranger's file of the same name is no less theirs).
   */
  async merge(
    targetContentPath: string,
    opts: { hasher?: PieceHasher; files?: ReadonlySet<number> } = {},
  ): Promise<void> {
    this.#checkOpen();
    const { layout } = this;
    // With `files` (the shell's /select) only those files are written, from the chunks that hold their
    // bytes; the others are not created. Chunks shared with a file left out stay whole in the folder.
    const chosen = (f: number): boolean => opts.files === undefined || opts.files.has(f);
    const pieces = opts.files ? [...wantedPieces(layout, opts.files).indexes()] : range(layout.pieceCount);
    const missing = pieces.filter((i) => !this.#held.has(i));
    if (missing.length > 0) {
      const shown = missing.slice(0, 10).join(', ') + (missing.length > 10 ? ', ...' : '');
      throw new ChunkswarmError(
        'ESTORAGE',
        `cannot merge: ${missing.length} of ${pieces.length} chunks are missing (${shown})`,
      );
    }
    const root = resolve(targetContentPath);
    const finals = layout.multiFile ? layout.files.map((f) => safeJoin(root, f.path)) : [root];
    if (finals.length !== layout.files.length) {
      throw new ChunkswarmError(
        'ESTORAGE',
        `a single-file torrent must list one file, not ${layout.files.length}`,
      );
    }
    for (let f = 0; f < finals.length; f++) {
      if (chosen(f) && (await targetTaken(finals[f]!))) {
        throw new ChunkswarmError(
          'ESTORAGE',
          `cannot merge: ${finals[f]} already exists; merge into another folder, or move it away first`,
        );
      }
    }
    const suffix = randomBytes(6).toString('hex');
    // Short temporary names: a long file name plus a suffix could pass the system's name limit.
    const temps = finals.map((p, f) => join(dirname(p), `.chunkswarm-merge-${suffix}-${f}.tmp`));
    const madeDirs: string[] = [];
    const touchedDirs = new Set<string>();
    const created = new Set<number>();
    const handles = new Map<number, FileHandle>();
    const hasher = opts.hasher;

    const openTemp = async (fileIndex: number): Promise<FileHandle> => {
      const existing = handles.get(fileIndex);
      if (existing) return existing;
      const tmp = temps[fileIndex]!;
      try {
        touchedDirs.add(dirname(tmp));
        const first = await mkdir(dirname(tmp), { recursive: true });
        if (first !== undefined) madeDirs.push(first);
        const h = await open(tmp, 'wx', modeOf(layout.files[fileIndex]));
        created.add(fileIndex);
        handles.set(fileIndex, h);
        return h;
      } catch (err) {
        throw storageError('create', tmp, err);
      }
    };
    const finish = async (fileIndex: number): Promise<void> => {
      const h = handles.get(fileIndex);
      if (!h) return;
      handles.delete(fileIndex);
      try {
        await h.datasync();
      } catch (err) {
        await h.close().catch(() => {});
        throw storageError('sync', temps[fileIndex]!, err);
      }
      await h.close();
    };

    try {
      // Zero-length files get no bytes from any chunk, but they are part of the torrent all the same.
      for (let f = 0; f < layout.files.length; f++) {
        if (layout.files[f]!.length !== 0 || !chosen(f)) continue;
        await openTemp(f);
        await finish(f);
      }
      await ordered(
        pieces.length,
        hasher ? hasher.threads + 2 : 2,
        async (k) => {
          const i = pieces[k]!;
          const data = await this.#readChunk(i);
          if (typeof data === 'string') return { data, ok: false };
          const digest = hasher ? await hasher.sha1(data) : sha1(data);
          return { data, ok: digest.equals(pieceHash(layout, i)) };
        },
        async (k, { data, ok }) => {
          const i = pieces[k]!;
          if (typeof data === 'string' || !ok) this.#held.delete(i);
          if (data === 'missing') {
            throw new ChunkswarmError(
              'ESTORAGE',
              `cannot merge: chunk file ${this.chunkPath(i)} has disappeared`,
            );
          }
          if (typeof data === 'string') {
            throw new ChunkswarmError(
              'EPIECE_HASH',
              `cannot merge: chunk ${this.chunkFileName(i)} is corrupt (${data}); delete it and download it again`,
            );
          }
          if (!ok) {
            throw new ChunkswarmError(
              'EPIECE_HASH',
              `cannot merge: chunk ${this.chunkFileName(i)} is corrupt (its SHA-1 does not match the torrent); delete it and download it again`,
            );
          }
          const pieceEnd = i * layout.pieceLength + data.length;
          for (const s of spansOf(layout, i)) {
            if (!chosen(s.fileIndex)) continue;
            const h = await openTemp(s.fileIndex);
            try {
              let done = 0;
              while (done < s.length) {
                done += (await h.write(data, s.pieceOffset + done, s.length - done, s.fileOffset + done))
                  .bytesWritten;
              }
            } catch (err) {
              throw storageError('write', temps[s.fileIndex]!, err);
            }
            const file = layout.files[s.fileIndex]!;
            // Pieces come in order, so a file whose last byte is written is complete: close it now
            // rather than hold one handle per file of a large torrent.
            if (file.offset + file.length <= pieceEnd) await finish(s.fileIndex);
          }
        },
      );
      for (const f of [...handles.keys()]) await finish(f);
    } catch (err) {
      for (const h of handles.values()) await h.close().catch(() => {});
      for (const f of created) await unlink(temps[f]!).catch(() => {});
      // Folders this merge made are empty again now; remove them, deepest first.
      const dirs = new Set<string>();
      for (const first of madeDirs) {
        for (const touched of touchedDirs) {
          for (let d = touched; d === first || d.startsWith(first + sep); d = dirname(d)) dirs.add(d);
        }
      }
      for (const d of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => {});
      throw err;
    }
    for (let f = 0; f < finals.length; f++) {
      if (!chosen(f)) continue;
      try {
        await rename(temps[f]!, finals[f]!);
      } catch (err) {
        throw storageError('rename', `${temps[f]} to ${finals[f]}`, err);
      }
    }
    for (const d of new Set(finals.filter((_, f) => chosen(f)).map((p) => dirname(p)))) await syncDir(d);
  }

  async flush(): Promise<void> {
    this.#checkOpen();
    if (!this.#dirDirty) return;
    this.#dirDirty = false;
    await syncDir(this.dir);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.#dirDirty) await syncDir(this.dir);
    } finally {
      this.#closed = true;
    }
  }

  /** The whole chunk file, 'missing', or why it cannot be the chunk. */
  async #readChunk(index: number): Promise<Buffer | string> {
    const path = this.chunkPath(index);
    const size = pieceLengthOf(this.layout, index);
    let h: FileHandle | undefined;
    try {
      h = await open(path, 'r');
      const st = await h.stat();
      if (!st.isFile()) return 'not a regular file';
      if (st.size !== size) return `${st.size} bytes where the chunk has ${size}`;
      const out = Buffer.allocUnsafe(size);
      await readFully(h, out, size, 0, path);
      return out;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return 'missing';
      if (err instanceof ShortChunk) return 'shorter than the chunk';
      throw storageError('read', path, err);
    } finally {
      await h?.close().catch(() => {});
    }
  }

  async #makeDir(): Promise<void> {
    if (this.#dirMade) return;
    const first = await mkdir(this.dir, { recursive: true });
    if (first !== undefined) await syncDir(dirname(first));
    this.#dirMade = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ChunkswarmError('ESTORAGE', `chunk folder ${this.dir} is closed`);
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

class ShortChunk extends ChunkswarmError {}

async function readFully(
  h: FileHandle,
  out: Buffer,
  length: number,
  position: number,
  path: string,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await h.read(out, done, length - done, position + done);
    if (bytesRead === 0)
      throw new ShortChunk('ESTORAGE', `cannot read ${path}: the file is shorter than the chunk`);
    done += bytesRead;
  }
}

function sha1(data: Buffer): Buffer {
  return createHash('sha1').update(data).digest();
}

/**
 * Whether anything (a file, a folder, a dangling link) is at `path`; a path we cannot look at counts as
 * taken. A file where one of its folders should be (`/merge_chunks a.bin`, with a.bin a file) is an error
 * that names that file.
 */
async function targetTaken(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) !== 'ENOTDIR') return errnoCode(err) !== 'ENOENT';
    // The deepest of its folders that exists is that file.
    let file = dirname(path);
    while ((await lstat(file).catch(() => undefined)) === undefined && file !== dirname(file))
      file = dirname(file);
    throw new ChunkswarmError('ESTORAGE', `cannot merge into ${file}: it is a file, not a folder`);
  }
}
