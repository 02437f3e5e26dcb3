import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { piecePriorities, resolveSelection, wantedPieces } from '../../src/metainfo/index.js';
import { PiecePicker } from '../../src/picker/index.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { FileStorage, partFilePath } from '../../src/storage/index.js';
import { seeded } from '../picker/helpers.js';
import { buildLayout, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

/**
 * The selection pieces together, as a session will join them: `--select`/`--exclude` resolve to
 * files, the picker fetches only their pieces, storage creates only their files; then a file is
 * added while running and only its missing pieces follow.
 */
test('--select fetches only the chosen files, creates no other, and a file added live follows', async () => {
  const PIECE = 16_384;
  const built = buildLayout(
    'course',
    [
      { path: ['intro.mp4'], length: 50_000 },
      { path: ['notes.txt'], length: 3_000 },
      { path: ['extras', 'bonus.mkv'], length: 70_000 },
      { path: ['extras', 'readme.nfo'], length: 500 },
      { path: ['outro.mp4'], length: 40_000 },
    ],
    PIECE,
  );
  const { layout } = built;
  let files = resolveSelection(layout, { select: '0-3', exclude: ['extras/**'] });
  assert.deepEqual([...files].sort(), [0, 1]);
  const root = join(dir, 'course');
  const storage = new FileStorage(layout, root, {
    selection: { files, partPath: partFilePath(join(dir, '.chunkswarm'), 'f00d') },
  });
  await storage.prepare();
  const picker = new PiecePicker(layout, { random: seeded(9) });
  picker.addPeer('seed', Bitfield.full(layout.pieceCount));
  picker.setPriorities(piecePriorities(layout, files));

  const fetched: number[] = [];
  const drain = async () => {
    for (let guard = 0; guard < 100; guard++) {
      const blocks = picker.pick('seed', 4);
      if (blocks.length === 0) return;
      for (const b of blocks) {
        if (!picker.blockReceived('seed', b).pieceDone) continue;
        await storage.writePiece(b.index, built.content.subarray(b.index * PIECE, (b.index + 1) * PIECE));
        picker.pieceVerified(b.index);
        fetched.push(b.index);
      }
    }
  };
  await drain();
  assert.equal(picker.wantedMissingCount(), 0);
  assert.deepEqual(
    fetched.sort((a, b) => a - b),
    [...wantedPieces(layout, files).indexes()],
  );
  assert.deepEqual((await readdir(root)).sort(), ['intro.mp4', 'notes.txt']);
  assert.deepEqual(await readFile(join(root, 'notes.txt')), built.fileData[1]);

  // extras/bonus.mkv joins while running: its first bytes, held in piece 3 (with intro.mp4's end and
  // notes.txt), move from the part file into it; only its other pieces are fetched.
  files = new Set([...files, 2]);
  await storage.setSelection(files, picker.have);
  picker.setPriorities(piecePriorities(layout, files));
  fetched.length = 0;
  await drain();
  assert.equal(picker.wantedMissingCount(), 0);
  assert.deepEqual(
    fetched.sort((a, b) => a - b),
    [4, 5, 6, 7],
  );
  await storage.close();
  assert.deepEqual((await readdir(root)).sort(), ['extras', 'intro.mp4', 'notes.txt']);
  assert.deepEqual(await readdir(join(root, 'extras')), ['bonus.mkv']);
  assert.deepEqual(await readFile(join(root, 'extras', 'bonus.mkv')), built.fileData[2]);
  assert.deepEqual(await readFile(join(root, 'intro.mp4')), built.fileData[0]);
});
