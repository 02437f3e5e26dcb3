import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { ChunkFolderStorage, FileStorage, PieceHasher } from '../../src/storage/index.js';
import { type Built, buildLayout, multiLayout, piece, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

async function fill(built: Built, mem: string, skip: number[] = []): Promise<ChunkFolderStorage> {
  const s = new ChunkFolderStorage(built.layout, mem);
  for (let i = 0; i < built.layout.pieceCount; i++)
    if (!skip.includes(i)) await s.writePiece(i, piece(built, i));
  await s.flush();
  return s;
}

describe('ChunkFolderStorage', () => {
  it('names chunks <name>.part<index> without padding and writes one file per piece', async () => {
    const built = buildLayout('song.mp3', [{ path: ['song.mp3'], length: 12 * 16_384 + 5 }], 16_384, false);
    const mem = join(dir, 'memory');
    const s = await fill(built, mem);
    assert.equal(s.chunkFileName(0), 'song.mp3.part0');
    assert.equal(s.chunkFileName(12), 'song.mp3.part12');
    assert.throws(
      () => s.chunkFileName(13),
      (e: unknown) => isChunkswarmError(e, 'ESTORAGE'),
    );
    const names = await readdir(mem);
    assert.deepEqual(names.sort(), [...Array(13).keys()].map((i) => `song.mp3.part${i}`).sort());
    for (let i = 0; i < 13; i++)
      assert.deepEqual(await readFile(join(mem, `song.mp3.part${i}`)), piece(built, i));
    assert.deepEqual(s.held(), [...Array(13).keys()]);
    await s.close();
  });

  it('reads blocks of held chunks and refuses chunks it does not hold', async () => {
    const built = multiLayout();
    const s = await fill(built, join(dir, 'm'), [1]);
    assert.deepEqual(await s.read(0, 100, 200), piece(built, 0).subarray(100, 300));
    assert.deepEqual(await s.read(2, 0, 1_232), piece(built, 2));
    await assert.rejects(s.read(1, 0, 10), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
    await assert.rejects(s.read(0, 16_000, 1_000), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
    await s.close();
  });

  it('verifyExisting keeps good chunks, ignores bad ones and other files, and leaves everything in place', async () => {
    const built = multiLayout();
    const mem = join(dir, 'm');
    await (await fill(built, mem)).close();
    const corrupt = Buffer.from(piece(built, 1));
    corrupt[7]! ^= 1;
    await writeFile(join(mem, 'album.part1'), corrupt);
    await writeFile(join(mem, 'album.part2'), piece(built, 2).subarray(0, 1_000)); // short
    // Not chunk names: padded, out of range, another torrent's, a folder.
    await writeFile(join(mem, 'album.part00'), piece(built, 0));
    await writeFile(join(mem, 'album.part3'), piece(built, 0));
    await writeFile(join(mem, 'other.part0'), piece(built, 0));
    await mkdir(join(mem, 'album.part9'));
    const before = (await readdir(mem)).sort();

    const hasher = new PieceHasher({ threads: 2, inlineBelow: 0, inlineBelowRate: 0 });
    const s = new ChunkFolderStorage(built.layout, mem);
    const progress: number[] = [];
    const bits = await s.verifyExisting({ hasher, onProgress: (done) => progress.push(done) });
    await hasher.close();
    assert.equal(bits.toString(), '100');
    assert.deepEqual(s.held(), [0]);
    assert.deepEqual(progress, [1, 2, 3]);
    assert.deepEqual((await readdir(mem)).sort(), before);
    assert.deepEqual(await readFile(join(mem, 'album.part1')), corrupt);

    // Writing the piece again replaces the bad file.
    await s.writePiece(1, piece(built, 1));
    assert.deepEqual(s.held(), [0, 1]);
    assert.equal((await s.verifyExisting()).toString(), '110');
    await s.close();
  });

  it('a chunk written while verification runs stays held', async () => {
    const built = multiLayout();
    const s = await fill(built, join(dir, 'm'), [2]);
    // A hasher that waits for a gate holds the verification open while the write lands.
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    class GatedHasher extends PieceHasher {
      override async sha1(data: Buffer): Promise<Buffer> {
        await gate;
        return super.sha1(data);
      }
    }
    const hasher = new GatedHasher({ threads: 1 });
    const verifying = s.verifyExisting({ hasher });
    await s.writePiece(2, piece(built, 2));
    open();
    assert.equal((await verifying).toString(), '111');
    assert.deepEqual(s.held(), [0, 1, 2]);
    await hasher.close();
    await s.close();
  });

  it('verifyExisting on a folder that does not exist holds nothing', async () => {
    const built = multiLayout();
    const s = new ChunkFolderStorage(built.layout, join(dir, 'none'));
    assert.equal((await s.verifyExisting()).toString(), '000');
    assert.deepEqual(s.held(), []);
    await assert.rejects(stat(join(dir, 'none')), { code: 'ENOENT' });
    await s.close();
  });

  it('leaves no temporary file behind after writes', async () => {
    const built = multiLayout();
    const mem = join(dir, 'm');
    const s = await fill(built, mem);
    // Rewriting held chunks concurrently is allowed and still leaves exactly one file per chunk.
    await Promise.all([0, 0, 1, 2].map((i) => s.writePiece(i, piece(built, i))));
    assert.deepEqual((await readdir(mem)).sort(), ['album.part0', 'album.part1', 'album.part2']);
    await s.close();
  });

  it('a failed write names the chunk path and the OS reason, and holds nothing', async () => {
    const built = multiLayout();
    const notAFolder = join(dir, 'file');
    await writeFile(notAFolder, 'x');
    const s = new ChunkFolderStorage(built.layout, notAFolder);
    await assert.rejects(
      s.writePiece(0, piece(built, 0)),
      (e: unknown) =>
        isChunkswarmError(e, 'ESTORAGE') &&
        e.message.startsWith(`cannot write ${join(notAFolder, 'album.part0')}: `) &&
        /\((EEXIST|ENOTDIR)\)$/.test(e.message),
    );
    assert.deepEqual(s.held(), []);
    await s.close();
  });

  it('refuses a torrent name that is not a single safe file name', () => {
    for (const name of ['../up', 'a/b', '..', '']) {
      const { layout } = buildLayout(name, [{ path: [name], length: 10 }], 16_384, false);
      assert.throws(
        () => new ChunkFolderStorage(layout, join(dir, 'm')),
        (e: unknown) => isChunkswarmError(e, 'EUNSAFE_PATH'),
      );
    }
  });

  it('rejects use after close', async () => {
    const built = multiLayout();
    const s = new ChunkFolderStorage(built.layout, join(dir, 'm'));
    await s.close();
    await assert.rejects(s.writePiece(0, piece(built, 0)), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
  });
});

describe('ChunkFolderStorage.merge', () => {
  it('produces files byte-identical to the originals for a multi-file torrent', async () => {
    const built = multiLayout();
    const s = await fill(built, join(dir, 'm'));
    const out = join(dir, 'out', 'album');
    const hasher = new PieceHasher({ threads: 2, inlineBelow: 0, inlineBelowRate: 0 });
    await s.merge(out, { hasher });
    await hasher.close();
    for (let f = 0; f < built.layout.files.length; f++) {
      assert.deepEqual(await readFile(join(out, ...built.layout.files[f]!.path)), built.fileData[f]);
    }
    assert.deepEqual((await readdir(out)).sort(), ['a.bin', 'c.bin', 'e.bin', 'empty.txt', 'sub']);
    // What it merged is exactly what a FileStorage sees as complete.
    const check = new FileStorage(built.layout, out, { readOnly: true });
    assert.equal((await check.verifyExisting()).toString(), '111');
    await check.close();
    await s.close();
  });

  it('merges a torrent with BEP 47 padding into its files alone, an executable one made executable', async () => {
    const built = buildLayout(
      'tools',
      [
        { path: ['run.sh'], length: 9_000, executable: true },
        { path: ['.pad', '7384'], length: 7_384, pad: true },
        { path: ['data.bin'], length: 20_000 },
      ],
      16_384,
    );
    const s = await fill(built, join(dir, 'm'));
    const out = join(dir, 'out', 'tools');
    await s.merge(out);
    assert.deepEqual((await readdir(out)).sort(), ['data.bin', 'run.sh']);
    assert.deepEqual(await readFile(join(out, 'run.sh')), built.fileData[0]);
    assert.deepEqual(await readFile(join(out, 'data.bin')), built.fileData[1]);
    assert.notEqual((await stat(join(out, 'run.sh'))).mode & 0o100, 0);
    assert.equal((await stat(join(out, 'data.bin'))).mode & 0o111, 0);
    await s.close();
  });

  it('merges a single-file torrent into the file itself', async () => {
    const built = buildLayout('film.mkv', [{ path: ['film.mkv'], length: 5 * 16_384 - 17 }], 16_384, false);
    const s = await fill(built, join(dir, 'm'));
    const out = join(dir, 'film.mkv');
    await s.merge(out);
    assert.deepEqual(await readFile(out), built.content);
    assert.deepEqual(await readdir(dir), ['film.mkv', 'm']);
    await s.close();
  });

  it('never replaces a file already at a target path: refused before anything is written', async () => {
    const single = buildLayout('film.mkv', [{ path: ['film.mkv'], length: 5 * 16_384 - 17 }], 16_384, false);
    const s = await fill(single, join(dir, 'm'));
    const out = join(dir, 'film.mkv');
    await writeFile(out, "the seeder's own copy, or somebody else's file");
    await assert.rejects(
      s.merge(out),
      (e: unknown) => isChunkswarmError(e, 'ESTORAGE') && e.message.includes(`${out} already exists`),
    );
    assert.equal(await readFile(out, 'utf8'), "the seeder's own copy, or somebody else's file");
    assert.deepEqual(await readdir(dir), ['film.mkv', 'm']);
    await s.close();
    // One file of a multi-file torrent is enough to refuse, and nothing else is written either.
    const multi = await fill(multiLayout(), join(dir, 'm2'));
    const album = join(dir, 'album');
    await mkdir(join(album, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(album, 'sub', 'deeper', 'd.bin'), 'older');
    await assert.rejects(multi.merge(album), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
    assert.deepEqual(await readdir(album), ['sub']);
    assert.equal(await readFile(join(album, 'sub', 'deeper', 'd.bin'), 'utf8'), 'older');
    await multi.close();
  });

  it('names the file that stands where a folder of the target should be', async () => {
    const built = buildLayout('film.mkv', [{ path: ['film.mkv'], length: 16_384 }], 16_384, false);
    const s = await fill(built, join(dir, 'm'));
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'not a folder');
    await assert.rejects(
      s.merge(join(file, 'inner', 'film.mkv')),
      (e: unknown) =>
        isChunkswarmError(e, 'ESTORAGE') &&
        e.message === `cannot merge into ${file}: it is a file, not a folder`,
    );
    assert.equal(await readFile(file, 'utf8'), 'not a folder');
    await s.close();
  });

  it('refuses a corrupt chunk with EPIECE_HASH naming it, and leaves no output at all', async () => {
    const built = multiLayout();
    const mem = join(dir, 'm');
    const s = await fill(built, mem);
    const bad = Buffer.from(piece(built, 2));
    bad[bad.length - 1]! ^= 0x80;
    await writeFile(join(mem, 'album.part2'), bad);
    const out = join(dir, 'out', 'album');
    await assert.rejects(
      s.merge(out),
      (e: unknown) => isChunkswarmError(e, 'EPIECE_HASH') && e.message.includes('album.part2'),
    );
    // The folders the merge made are gone again, with every temporary file.
    assert.deepEqual(await readdir(dir), ['m']);
    assert.deepEqual(s.held(), [0, 1]);
    await s.close();
  });

  it('a corrupt chunk leaves an existing target folder exactly as it was', async () => {
    const built = multiLayout();
    const mem = join(dir, 'm');
    const s = await fill(built, mem);
    await writeFile(join(mem, 'album.part1'), piece(built, 1).subarray(5));
    const out = join(dir, 'album');
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'previous');
    await assert.rejects(
      s.merge(out),
      (e: unknown) => isChunkswarmError(e, 'EPIECE_HASH') && e.message.includes('album.part1'),
    );
    assert.deepEqual(await readdir(out), ['notes.txt']);
    assert.equal(await readFile(join(out, 'notes.txt'), 'utf8'), 'previous');
    await s.close();
  });

  it('refuses to start when chunks are missing, naming them', async () => {
    const built = multiLayout();
    const s = await fill(built, join(dir, 'm'), [0, 2]);
    await assert.rejects(
      s.merge(join(dir, 'out')),
      (e: unknown) =>
        isChunkswarmError(e, 'ESTORAGE') && /2 of 3 chunks are missing \(0, 2\)/.test(e.message),
    );
    assert.deepEqual(await readdir(dir), ['m']);
    await s.close();
  });

  it('refuses a file path that would leave the target folder', async () => {
    const built = buildLayout('t', [{ path: ['..', 'x'], length: 10 }], 16_384);
    const s = await fill(built, join(dir, 'm'));
    await assert.rejects(s.merge(join(dir, 'out')), (e: unknown) => isChunkswarmError(e, 'EUNSAFE_PATH'));
    assert.deepEqual(await readdir(dir), ['m']);
    await s.close();
  });
});
