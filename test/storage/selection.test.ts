import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Bitfield } from '../../src/shared/bitfield.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { FileStorage, partFilePath } from '../../src/storage/index.js';
import { type Built, multiLayout, piece, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

// multiLayout: a.bin 0..10000 | empty.txt | c.bin 10000..13000 | sub/deeper/d.bin 13000..33000 |
// e.bin 33000..34000, in 16 KiB pieces: piece 0 = a, c and the start of d; 1 = d; 2 = end of d, e.
const A = 0;
const EMPTY = 1;
const C = 2;
const D = 3;
const E = 4;

function open(built: Built, files: number[], opts: { readOnly?: boolean } = {}) {
  const root = join(dir, 'album');
  const partPath = partFilePath(join(dir, '.chunkswarm'), 'abc');
  const storage = new FileStorage(built.layout, root, {
    ...opts,
    selection: { files: new Set(files), partPath },
  });
  return { storage, root, partPath };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readsBack(storage: FileStorage, built: Built, pieces: number[]) {
  for (const i of pieces) {
    const p = piece(built, i);
    assert.deepEqual(await storage.read(i, 0, p.length), p, `piece ${i}`);
    // across the a.bin | c.bin boundary in piece 0
    const begin = Math.min(9_990, p.length - 30);
    assert.deepEqual(
      await storage.read(i, begin, 30),
      p.subarray(begin, begin + 30),
      `piece ${i} at ${begin}`,
    );
  }
}

describe('FileStorage with a file selection', () => {
  it('creates only the selected files; boundary bytes go to the part file and read back', async () => {
    const built = multiLayout();
    const { storage, root, partPath } = open(built, [D]);
    await storage.prepare();
    for (const i of [2, 0, 1]) await storage.writePiece(i, piece(built, i));
    await storage.flush();
    await readsBack(storage, built, [0, 1, 2]);
    await storage.close();
    assert.deepEqual(await readdir(root), ['sub']);
    assert.deepEqual(await readdir(join(root, 'sub', 'deeper')), ['d.bin']);
    assert.deepEqual(await readFile(join(root, 'sub', 'deeper', 'd.bin')), built.fileData[D]);
    // a.bin, c.bin and e.bin bytes of pieces 0 and 2 sit in the part file at their torrent offsets
    const part = await readFile(partPath);
    assert.deepEqual(part.subarray(0, 13_000), built.content.subarray(0, 13_000));
    assert.deepEqual(part.subarray(33_000, 34_000), built.fileData[E]);

    // a new storage with the same selection finds all three pieces again
    const again = open(built, [D]).storage;
    assert.equal((await again.verifyExisting()).toString(), '111');
    await again.close();
  });

  it('never creates an unselected zero-length file, and reports pieces with no selected byte missing', async () => {
    const built = multiLayout();
    const { storage, root } = open(built, [A]);
    await storage.prepare();
    await storage.writePiece(0, piece(built, 0));
    // an explicit fetch of a piece wholly in unselected files: stored (in the part file), never counted
    await storage.writePiece(1, piece(built, 1));
    await readsBack(storage, built, [0, 1]);
    await storage.close();
    assert.deepEqual(await readdir(root), ['a.bin']);
    const again = open(built, [A]).storage;
    assert.equal((await again.verifyExisting()).toString(), '100');
    await again.close();
  });

  it('moves bytes from the part file into a file selected while running, and keeps reads right', async () => {
    const built = multiLayout();
    const { storage, root } = open(built, [A]);
    await storage.prepare();
    await storage.writePiece(0, piece(built, 0));
    const have = Bitfield.fromString('100');
    assert.equal(await exists(join(root, 'c.bin')), false);

    await storage.setSelection(new Set([A, C]), have);
    assert.equal(storage.isFileCreated(C), true);
    assert.deepEqual(await readFile(join(root, 'c.bin')), built.fileData[C]);
    await readsBack(storage, built, [0]);

    // d.bin joins: its first 3384 bytes are in held piece 0 and move; the empty file appears
    await storage.setSelection(new Set([A, EMPTY, C, D]), have);
    const d = await readFile(join(root, 'sub', 'deeper', 'd.bin'));
    assert.deepEqual(d, built.fileData[D]!.subarray(0, 16_384 - 13_000));
    assert.equal((await stat(join(root, 'empty.txt'))).size, 0);
    await storage.writePiece(1, piece(built, 1));
    await storage.writePiece(2, piece(built, 2));
    await readsBack(storage, built, [0, 1, 2]);
    await storage.close();
    assert.deepEqual(await readFile(join(root, 'sub', 'deeper', 'd.bin')), built.fileData[D]);
    assert.equal(await exists(join(root, 'e.bin')), false);
  });

  it('a file that leaves the selection keeps its bytes where they are', async () => {
    const built = multiLayout();
    const { storage, root } = open(built, [A, C]);
    await storage.writePiece(0, piece(built, 0));
    await storage.setSelection(new Set([A]), Bitfield.fromString('100'));
    assert.equal(storage.isFileCreated(C), true);
    await readsBack(storage, built, [0]);
    await storage.close();
    assert.deepEqual(await readFile(join(root, 'c.bin')), built.fileData[C]);
  });

  it('reads and writes that overlap a selection change all see whole pieces', async () => {
    const built = multiLayout();
    const { storage } = open(built, [D]);
    await storage.writePiece(0, piece(built, 0));
    await storage.writePiece(2, piece(built, 2));
    const have = Bitfield.fromString('101');
    const reads: Promise<Buffer>[] = [];
    for (let k = 0; k < 20; k++) reads.push(storage.read(0, 0, 16_384), storage.read(2, 0, 1_232));
    const change = storage.setSelection(new Set([A, C, D, E]), have);
    for (let k = 0; k < 20; k++) reads.push(storage.read(0, 0, 16_384), storage.read(2, 0, 1_232));
    const write = storage.writePiece(1, piece(built, 1));
    await Promise.all([change, write]);
    await readsBack(storage, built, [0, 1, 2]);
    await storage.close();
  });

  it('moves the bytes of a piece written while the selection changes, though `have` did not list it yet', async () => {
    const built = multiLayout();
    const { storage, root } = open(built, [D]);
    // piece 2 (end of d.bin, all of e.bin) is being written as e.bin is selected
    const write = storage.writePiece(2, piece(built, 2));
    const change = storage.setSelection(new Set([D, E]), new Bitfield(3));
    await Promise.all([write, change]);
    assert.deepEqual(await readFile(join(root, 'e.bin')), built.fileData[E]);
    await readsBack(storage, built, [2]);
    await storage.close();
  });

  it('a selection change waits for reads under way, and reads after it wait for the move', async () => {
    const built = multiLayout();
    const { storage } = open(built, [D]);
    await storage.writePiece(0, piece(built, 0));
    await storage.writePiece(2, piece(built, 2));
    const have = Bitfield.fromString('101');
    const reads: Promise<Buffer>[] = [];
    for (let k = 0; k < 20; k++) reads.push(storage.read(0, 0, 16_384), storage.read(2, 0, 1_232));
    const change = storage.setSelection(new Set([A, C, D, E]), have);
    for (let k = 0; k < 20; k++) reads.push(storage.read(0, 0, 16_384), storage.read(2, 0, 1_232));
    await change;
    const got = await Promise.all(reads);
    for (const [k, b] of got.entries()) assert.deepEqual(b, piece(built, k % 2 === 0 ? 0 : 2), `read ${k}`);
    await readsBack(storage, built, [0, 2]);
    await storage.close();
  });

  it('refuses unknown file numbers and a part file that is a torrent file', () => {
    const built = multiLayout();
    const storageError = (e: unknown) => isChunkswarmError(e, 'ESTORAGE');
    assert.throws(() => open(built, [5]), storageError);
    assert.throws(
      () =>
        new FileStorage(built.layout, join(dir, 'album'), {
          selection: { files: new Set([0]), partPath: join(dir, 'album', 'a.bin') },
        }),
      storageError,
    );
  });

  it('without a selection has no part file and every file is in place', async () => {
    const built = multiLayout();
    const s = new FileStorage(built.layout, join(dir, 'album'));
    assert.equal(s.partPath, undefined);
    assert.equal(s.isFileCreated(E), true);
    await s.setSelection(new Set([0]), new Bitfield(3));
    await s.close();
  });

  it('a file left out before any of its bytes arrived goes to the part file; one with bytes stays in place', async () => {
    const built = multiLayout();
    // Everything chosen at first, as a download without --select opens its storage.
    const { storage, root, partPath } = open(built, [A, EMPTY, C, D, E]);
    await storage.prepare();
    await storage.writePiece(1, piece(built, 1)); // d.bin only
    const have = new Bitfield(3);
    have.set(1);
    // Unticked: c.bin has no byte yet and goes out of the way; d.bin holds piece 1 and stays.
    await storage.setSelection(new Set([A, EMPTY, E]), have);
    assert.equal(storage.isFileCreated(C), false);
    assert.equal(storage.isFileCreated(D), true);
    // Piece 0 spans a.bin, c.bin and d.bin: c.bin's share goes to the part file, and c.bin is never created.
    await storage.writePiece(0, piece(built, 0));
    await storage.flush();
    assert.equal(await exists(join(root, 'c.bin')), false, 'c.bin was created');
    assert.deepEqual((await readFile(partPath)).subarray(10_000, 13_000), built.fileData[C]);
    await readsBack(storage, built, [0, 1]);
    // Chosen again: its bytes come out of the part file into c.bin.
    have.set(0);
    await storage.setSelection(new Set([A, EMPTY, C, E]), have);
    assert.deepEqual(await readFile(join(root, 'c.bin')), built.fileData[C]);
    await storage.close();
  });
});
