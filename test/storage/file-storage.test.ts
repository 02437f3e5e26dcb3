import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { TorrentLayout } from '../../src/metainfo/types.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { FileStorage, PieceHasher } from '../../src/storage/index.js';
import {
  alignedCopy,
  buildLayout,
  directIoIn,
  multiLayout,
  piece,
  tempDir,
  withFileHandleWrite,
} from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

const filePaths = (root: string, layout: TorrentLayout) => layout.files.map((f) => join(root, ...f.path));

async function writeAll(storage: FileStorage, built: ReturnType<typeof multiLayout>, order?: number[]) {
  for (const i of order ?? [...Array(built.layout.pieceCount).keys()])
    await storage.writePiece(i, piece(built, i));
}

describe('FileStorage, writes', () => {
  it('issues one write at a time to a file, in the order asked, whatever arrives at once', async () => {
    // Sixteen pieces of one file stored together: the kernel would take them one at a time anyway (the
    // file's inode lock), with the pool's threads spinning on that lock meanwhile.
    const built = buildLayout('one.bin', [{ path: ['one.bin'], length: 16 * 16_384 }], 16_384, false);
    const root = join(dir, 'one.bin');
    const s = new FileStorage(built.layout, root);
    await s.prepare();
    let inFlight = 0;
    let most = 0;
    const positions: unknown[] = [];
    await withFileHandleWrite(
      dir,
      (original) =>
        async function (this: unknown, ...args: unknown[]) {
          most = Math.max(most, ++inFlight);
          positions.push(args[3]);
          try {
            return await original.apply(this, args);
          } finally {
            inFlight--;
          }
        },
      () => Promise.all([...Array(16).keys()].map((i) => s.writePiece(i, piece(built, i)))),
    );
    assert.equal(most, 1);
    assert.deepEqual(
      positions,
      [...Array(16).keys()].map((i) => i * 16_384),
    );
    await s.close();
    assert.deepEqual(await readFile(root), built.content);
  });
});

describe('FileStorage, O_DIRECT', () => {
  it('writes whole aligned pieces with O_DIRECT where the file system takes it, a short last piece through the cache', async () => {
    const built = buildLayout('film.bin', [{ path: ['film.bin'], length: 8 * 65_536 + 1000 }], 65_536, false);
    const root = join(dir, 'film.bin');
    const s = new FileStorage(built.layout, root);
    await s.prepare();
    for (const i of [3, 0, 8, 7, 1, 2, 6, 5, 4]) await s.writePiece(i, alignedCopy(piece(built, i)));
    assert.equal(s.directWrites, (await directIoIn(dir)) ? 8 : 0);
    for (let i = 0; i < 9; i++) assert.deepEqual(await s.read(i, 0, piece(built, i).length), piece(built, i));
    await s.close();
    assert.deepEqual(await readFile(root), built.content);
  });

  it('writes a piece again through the page cache when an O_DIRECT write is refused, and keeps that file there', async (t) => {
    if (!(await directIoIn(dir))) {
      t.diagnostic(`${dir} takes no O_DIRECT: every write goes through the page cache already`);
      return;
    }
    const built = buildLayout('film.bin', [{ path: ['film.bin'], length: 4 * 65_536 }], 65_536, false);
    const s = new FileStorage(built.layout, join(dir, 'film.bin'));
    // The first handle written to is the O_DIRECT one: it refuses, as a device that wants more alignment would.
    let refusing: number | undefined;
    await withFileHandleWrite(
      dir,
      (original) =>
        async function (this: { fd: number }, ...args: unknown[]) {
          refusing ??= this.fd;
          if (this.fd === refusing) throw Object.assign(new Error('invalid argument'), { code: 'EINVAL' });
          return original.apply(this, args);
        },
      async () => {
        for (let i = 0; i < 4; i++) await s.writePiece(i, alignedCopy(piece(built, i)));
      },
    );
    assert.equal(s.directWrites, 0);
    await s.close();
    assert.deepEqual(await readFile(join(dir, 'film.bin')), built.content);
  });

  it('goes through the page cache for buffers of other origin, spans at odd places, and when told to', async () => {
    const one = buildLayout('film.bin', [{ path: ['film.bin'], length: 4 * 65_536 }], 65_536, false);
    const plain = new FileStorage(one.layout, join(dir, 'plain.bin'));
    const off = new FileStorage(one.layout, join(dir, 'off.bin'), { directIo: false });
    for (let i = 0; i < 4; i++) {
      await plain.writePiece(i, piece(one, i));
      await off.writePiece(i, alignedCopy(piece(one, i)));
    }
    // Files of 10,000, 0, 3,000, 20,000 and 1,000 bytes: no span is whole 4 KiB blocks at a 4 KiB boundary.
    const multi = multiLayout();
    const spread = new FileStorage(multi.layout, join(dir, 'album'));
    await spread.prepare();
    for (let i = 0; i < multi.layout.pieceCount; i++)
      await spread.writePiece(i, alignedCopy(piece(multi, i)));
    assert.deepEqual([plain.directWrites, off.directWrites, spread.directWrites], [0, 0, 0]);
    for (const s of [plain, off, spread]) await s.close();
    assert.deepEqual(await readFile(join(dir, 'plain.bin')), one.content);
    assert.deepEqual(await readFile(join(dir, 'off.bin')), one.content);
    for (const [k, f] of multi.layout.files.entries())
      assert.deepEqual(await readFile(join(dir, 'album', ...f.path)), multi.fileData[k]);
  });
});

describe('FileStorage, multi-file', () => {
  it('writes pieces spanning three files in any order and reads back every block', async () => {
    const built = multiLayout();
    const root = join(dir, 'album');
    const s = new FileStorage(built.layout, root);
    await s.prepare();
    await writeAll(s, built, [2, 0, 1]);
    await s.flush();
    for (let i = 0; i < built.layout.pieceCount; i++) {
      const p = piece(built, i);
      assert.deepEqual(await s.read(i, 0, p.length), p);
      const begin = Math.min(9_990, p.length - 30);
      assert.deepEqual(await s.read(i, begin, 30), p.subarray(begin, begin + 30));
    }
    await s.close();
    const paths = filePaths(root, built.layout);
    for (let f = 0; f < paths.length; f++) assert.deepEqual(await readFile(paths[f]!), built.fileData[f]);
  });

  it('prepare makes the folders and the zero-length file, leaving existing files alone', async () => {
    const built = multiLayout();
    const root = join(dir, 'album');
    await mkdir(root);
    await writeFile(join(root, 'a.bin'), 'keep me');
    const s = new FileStorage(built.layout, root);
    await s.prepare();
    assert.equal((await stat(join(root, 'empty.txt'))).size, 0);
    assert.ok((await stat(join(root, 'sub', 'deeper'))).isDirectory());
    assert.equal(await readFile(join(root, 'a.bin'), 'utf8'), 'keep me');
    await s.close();
  });

  it('creates files lazily on first write, with their folders', async () => {
    const built = multiLayout();
    const root = join(dir, 'lazy');
    const s = new FileStorage(built.layout, root);
    await s.writePiece(2, piece(built, 2));
    await s.close();
    assert.deepEqual((await readdir(root)).sort(), ['e.bin', 'sub']);
    const d = await readFile(join(root, 'sub', 'deeper', 'd.bin'));
    // Only the tail of d.bin belongs to piece 2; the file is sparse before it.
    assert.deepEqual(d.subarray(32_768 - 13_000), built.fileData[3]!.subarray(32_768 - 13_000));
  });

  it('verifyExisting finds nothing in an empty folder, and everything after a full write', async () => {
    const built = multiLayout();
    const root = join(dir, 'album');
    const s = new FileStorage(built.layout, root);
    const seen: [number, number][] = [];
    assert.equal((await s.verifyExisting({ onProgress: (d, t) => seen.push([d, t]) })).toString(), '000');
    assert.deepEqual(seen, [
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    await s.prepare();
    await writeAll(s, built);
    assert.equal((await s.verifyExisting()).toString(), '111');
    await s.close();
  });

  it('verifyExisting reads every piece into one of a few buffers, used again and again', async () => {
    // A fresh buffer per piece faulted in new memory for every byte checked, costlier than the hashing.
    const built = buildLayout('one.bin', [{ path: ['one.bin'], length: 32 * 16_384 }], 16_384, false);
    const root = join(dir, 'one.bin');
    const w = new FileStorage(built.layout, root);
    await w.prepare();
    await writeAll(w, built);
    await w.close();
    const into = new Set<Buffer | undefined>();
    class Watched extends FileStorage {
      override read(index: number, begin: number, length: number, buffer?: Buffer): Promise<Buffer> {
        into.add(buffer);
        return super.read(index, begin, length, buffer);
      }
    }
    const s = new Watched(built.layout, root, { readOnly: true });
    assert.equal((await s.verifyExisting()).count, 32);
    await s.close();
    assert.ok(!into.has(undefined), 'every piece read into a buffer of the check');
    assert.ok(into.size <= 4, `${into.size} buffers for 32 pieces`);
  });

  it('verifyExisting hashes a small torrent here, and pieces over 1 MiB on the hasher workers', async () => {
    // Workers cost about 0.1 CPU-s each to start: more than hashing a small torrent takes.
    const hasher = new PieceHasher({ threads: 2, inlineBelow: 0, inlineBelowRate: 0 });
    const check = async (name: string, pieceLength: number, pieces: number) => {
      const built = buildLayout(name, [{ path: [name], length: pieces * pieceLength }], pieceLength, false);
      const root = join(dir, name);
      const w = new FileStorage(built.layout, root);
      await w.prepare();
      await writeAll(w, built);
      await w.close();
      const bytesOnDisk = await readFile(root);
      bytesOnDisk[pieceLength + 5]! ^= 0xff;
      await writeFile(root, bytesOnDisk);
      const s = new FileStorage(built.layout, root, { readOnly: true });
      try {
        return (await s.verifyExisting({ hasher })).toString();
      } finally {
        await s.close();
      }
    };
    try {
      assert.equal(await check('small.bin', 64 * 1024, 4), '1011');
      assert.equal(hasher.workersStarted, 0, 'no worker started for 256 KiB');
      assert.equal(await check('large.bin', 2 * 1024 * 1024, 3), '101');
      assert.ok(hasher.workersStarted > 0, 'pieces of 2 MiB hashed on workers');
    } finally {
      await hasher.close();
    }
  });

  it('verifyExisting treats missing, short and corrupt files as missing pieces', async () => {
    const built = multiLayout();
    const root = join(dir, 'album');
    const w = new FileStorage(built.layout, root);
    await w.prepare();
    await writeAll(w, built);
    await w.close();
    const [a, , , d, e] = filePaths(root, built.layout);
    const hasher = new PieceHasher({ threads: 2, inlineBelow: 0, inlineBelowRate: 0 });
    try {
      const check = async () => {
        const s = new FileStorage(built.layout, root, { readOnly: true });
        try {
          return (await s.verifyExisting({ hasher })).toString();
        } finally {
          await s.close();
        }
      };
      assert.equal(await check(), '111');
      // The last file short by one byte: only the last piece.
      await truncate(e!, 999);
      assert.equal(await check(), '110');
      // One flipped byte in a.bin: piece 0 only.
      const bytesA = await readFile(a!);
      bytesA[1234]! ^= 0xff;
      await writeFile(a!, bytesA);
      assert.equal(await check(), '010');
      // d.bin gone: every piece touching it (all three).
      await truncate(d!, 0);
      assert.equal(await check(), '000');
    } finally {
      await hasher.close();
    }
  });

  it('keeps working with a cap of one open file while writes and reads run concurrently', async () => {
    const built = multiLayout();
    const root = join(dir, 'album');
    const s = new FileStorage(built.layout, root, { maxOpenFiles: 1 });
    await s.prepare();
    await Promise.all([0, 1, 2].map((i) => s.writePiece(i, piece(built, i))));
    const reads = await Promise.all(
      [0, 1, 2, 0, 2].map((i) => s.read(i, 0, piece(built, i).length).then((b) => [i, b] as const)),
    );
    for (const [i, b] of reads) assert.deepEqual(b, piece(built, i));
    await s.flush();
    assert.equal((await s.verifyExisting()).toString(), '111');
    await s.close();
  });

  it('many files under a tiny handle cap: concurrent writes and reads all land', async () => {
    const files = [...Array(30).keys()].map((i) => ({
      path: [`f${i % 3}`, `n${i}`],
      length: 2_000 + i * 37,
    }));
    const built = buildLayout('many', files, 16_384);
    const root = join(dir, 'many');
    const s = new FileStorage(built.layout, root, { maxOpenFiles: 2 });
    const all = [...Array(built.layout.pieceCount).keys()];
    await Promise.all(all.map((i) => s.writePiece(i, piece(built, i))));
    const blocks = await Promise.all(all.map((i) => s.read(i, 1_000, 5_000)));
    for (const i of all) assert.deepEqual(blocks[i], piece(built, i).subarray(1_000, 6_000));
    await s.close();
    const paths = filePaths(root, built.layout);
    for (let f = 0; f < paths.length; f++) assert.deepEqual(await readFile(paths[f]!), built.fileData[f]);
  });

  it('refuses reads outside the piece and writes of the wrong size', async () => {
    const built = multiLayout();
    const s = new FileStorage(built.layout, join(dir, 'x'));
    const estorage = (e: unknown) => isChunkswarmError(e, 'ESTORAGE');
    await assert.rejects(s.read(0, 16_000, 385), estorage);
    await assert.rejects(s.read(2, 0, 1_233), estorage);
    await assert.rejects(s.read(3, 0, 1), estorage);
    await assert.rejects(s.writePiece(0, Buffer.alloc(100)), estorage);
    await assert.rejects(s.writePiece(2, piece(built, 1)), estorage);
    await s.close();
  });

  it('a read of a file that is not there names the path and the OS reason', async () => {
    const built = multiLayout();
    const root = join(dir, 'nothing');
    const s = new FileStorage(built.layout, root);
    await assert.rejects(
      s.read(1, 0, 10),
      (e: unknown) =>
        isChunkswarmError(e, 'ESTORAGE') &&
        e.message.includes(join(root, 'sub', 'deeper', 'd.bin')) &&
        e.message.includes('no such file or directory (ENOENT)'),
    );
    await s.close();
  });

  it('a write that the OS refuses names the path and the reason', async () => {
    const built = multiLayout();
    const root = join(dir, 'album');
    // A folder where a file should be.
    await mkdir(join(root, 'a.bin'), { recursive: true });
    const s = new FileStorage(built.layout, root);
    await assert.rejects(
      s.writePiece(0, piece(built, 0)),
      (e: unknown) =>
        isChunkswarmError(e, 'ESTORAGE') &&
        e.message.startsWith(`cannot write ${join(root, 'a.bin')}: `) &&
        /\(EISDIR\)$/.test(e.message),
    );
    // Reported once the piece's other parts are written too, not while they still are: its bytes of
    // sub/deeper/d.bin (the piece's last 3,384) are on disk when the rejection comes.
    const d = await readFile(join(root, 'sub', 'deeper', 'd.bin'));
    assert.ok(d.subarray(0, 3_384).equals(built.fileData[3]!.subarray(0, 3_384)));
    await s.close();
  });

  it('read-only storage never writes, and prepare does nothing', async () => {
    const built = multiLayout();
    const root = join(dir, 'ro');
    const s = new FileStorage(built.layout, root, { readOnly: true });
    await s.prepare();
    await assert.rejects(s.writePiece(0, piece(built, 0)), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
    await assert.rejects(stat(root), { code: 'ENOENT' });
    await s.close();
  });

  it('rejects use after close', async () => {
    const built = multiLayout();
    const s = new FileStorage(built.layout, join(dir, 'c'));
    await s.close();
    await assert.rejects(s.read(0, 0, 1), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
    await assert.rejects(s.writePiece(0, piece(built, 0)), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
  });
});

describe('FileStorage, BEP 47 padding', () => {
  // 16 KiB pieces: a.bin, padding to the next piece, b.bin, padding again, c.bin (the last piece short).
  const padded = () =>
    buildLayout(
      'padded',
      [
        { path: ['a.bin'], length: 10_000 },
        { path: ['.pad', '6384'], length: 6_384, pad: true },
        { path: ['b.bin'], length: 20_000, executable: true },
        { path: ['.pad', '12768'], length: 12_768, pad: true },
        { path: ['c.bin'], length: 1_000 },
      ],
      16 * 1024,
    );

  it('stores only the files, and reads the padding back as zeros', async () => {
    const built = padded();
    const root = join(dir, 'padded');
    const s = new FileStorage(built.layout, root);
    await s.prepare();
    await writeAll(s, built);
    assert.deepEqual((await readdir(root)).sort(), ['a.bin', 'b.bin', 'c.bin']);
    // BEP 47's 'x': b.bin is made executable (within the umask), the others are not.
    assert.notEqual((await stat(join(root, 'b.bin'))).mode & 0o100, 0);
    assert.equal((await stat(join(root, 'a.bin'))).mode & 0o111, 0);
    for (const [i, p] of filePaths(root, built.layout).entries())
      assert.ok((await readFile(p)).equals(built.fileData[i]!), `file ${i}`);
    for (let i = 0; i < built.layout.pieceCount; i++) {
      // A reused buffer full of other bytes: the padding must come back as zeros, not as what was there.
      const into = Buffer.alloc(16 * 1024, 0xee);
      assert.ok((await s.read(i, 0, piece(built, i).length, into)).equals(piece(built, i)), `piece ${i}`);
    }
    assert.ok((await s.read(0, 9_000, 3_000)).equals(built.content.subarray(9_000, 12_000)));
    assert.ok((await s.read(2, 4_000, 8_000)).equals(Buffer.alloc(8_000)), 'a range of padding alone');
    await s.close();
  });

  it('verifies every piece from the original files alone, as a seeder of a padded torrent must', async () => {
    const built = padded();
    const root = join(dir, 'padded');
    for (const [i, p] of filePaths(root, built.layout).entries()) {
      await mkdir(join(p, '..'), { recursive: true });
      await writeFile(p, built.fileData[i]!);
    }
    const s = new FileStorage(built.layout, root);
    assert.equal((await s.verifyExisting()).toString(), '1111');
    await s.close();
  });
});

describe('FileStorage, single file', () => {
  it('contentPath is the file itself; a short last piece is written and verified', async () => {
    const built = buildLayout('movie.bin', [{ path: ['movie.bin'], length: 50_000 }], 16_384, false);
    const file = join(dir, 'out', 'movie.bin');
    const s = new FileStorage(built.layout, file);
    await s.prepare();
    await writeAll(s, built, [3, 1, 0, 2]);
    await s.close();
    assert.deepEqual(await readFile(file), built.content);
    const r = new FileStorage(built.layout, file, { readOnly: true });
    assert.equal((await r.verifyExisting()).toString(), '1111');
    assert.deepEqual(await r.read(3, 100, 50), built.content.subarray(3 * 16_384 + 100, 3 * 16_384 + 150));
    await r.close();
  });
});

describe('FileStorage paths', () => {
  const evil = (path: string[]): TorrentLayout => {
    const { layout } = buildLayout(
      't',
      [
        { path: ['ok'], length: 10 },
        { path, length: 10 },
      ],
      16_384,
    );
    return layout;
  };

  for (const path of [
    ['..', 'escape'],
    ['a', '..', '..', 'b'],
    ['/etc/passwd'],
    ['a/b'],
    [''],
    ['.'],
    ['C:evil'],
    ['x\0y'],
  ]) {
    it(`refuses ${JSON.stringify(path)} before touching the disk`, async () => {
      assert.throws(
        () => new FileStorage(evil(path), join(dir, 'root')),
        (e: unknown) =>
          isChunkswarmError(e, 'EUNSAFE_PATH') && e.message.startsWith('unsafe path in torrent'),
      );
      assert.deepEqual(await readdir(dir), []);
    });
  }

  it('keeps harmless oddities: spaces, non-ASCII, names starting with dots', async () => {
    const built = buildLayout(
      't',
      [
        { path: ['a b', 'ñandú ✓.txt'], length: 100 },
        { path: ['..hidden'], length: 50 },
      ],
      16_384,
    );
    const root = join(dir, 'root');
    const s = new FileStorage(built.layout, root);
    await s.writePiece(0, piece(built, 0));
    await s.close();
    assert.deepEqual(await readFile(join(root, 'a b', 'ñandú ✓.txt')), built.fileData[0]);
    assert.deepEqual(await readFile(join(root, '..hidden')), built.fileData[1]);
  });
});
