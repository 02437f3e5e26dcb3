/**
 * Resume data: the record of verified chunks stands only while every file is exactly as it was when the
 * record was written; anything else (a later write, a changed or missing file, a damaged record) makes
 * the caller check the data in full.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  decodeResume,
  encodeResume,
  ResumeFile,
  sameStamps,
  stampFiles,
  writeStateFile,
} from '../../src/session/resume.js';
import { Bitfield } from '../../src/shared/bitfield.js';

const infoHash = Buffer.alloc(20, 7);
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chunkswarm-resume-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('resume record', () => {
  const record = {
    infoHash,
    pieces: Bitfield.fromString('1011000001'),
    files: [
      { size: 123, mtimeNs: 1_795_635_000_123_456_789n },
      { size: -1, mtimeNs: 0n },
    ],
  };
  const expect = { infoHash, pieceCount: 10, fileCount: 2 };

  it('reads back what it wrote, nanoseconds included', () => {
    const back = decodeResume(encodeResume(record), expect);
    assert.ok(back);
    assert.equal(back.pieces.toString(), record.pieces.toString());
    assert.deepEqual(back.files, record.files);
    assert.ok(back.infoHash.equals(infoHash));
  });

  it('is no record for another torrent, another shape, or damaged bytes', () => {
    const bytes = encodeResume(record);
    assert.equal(decodeResume(bytes, { ...expect, infoHash: Buffer.alloc(20, 8) }), undefined);
    assert.equal(decodeResume(bytes, { ...expect, pieceCount: 17 }), undefined);
    assert.equal(decodeResume(bytes, { ...expect, fileCount: 3 }), undefined);
    assert.equal(decodeResume(bytes.subarray(0, bytes.length - 3), expect), undefined);
    assert.equal(decodeResume(Buffer.from('de'), expect), undefined);
    assert.equal(decodeResume(Buffer.from('not bencode at all'), expect), undefined);
    const forged = Buffer.from(
      bytes.toString('latin1').replace('1795635000123456789', '17956350001234567x9'),
      'latin1',
    );
    assert.equal(decodeResume(forged, expect), undefined);
  });
});

describe('ResumeFile', () => {
  it('gives the recorded chunks while the files are untouched, and nothing once one changes', async () => {
    const a = join(dir, 'a.bin');
    const b = join(dir, 'b.bin');
    await writeFile(a, Buffer.alloc(1000, 1));
    await writeFile(b, Buffer.alloc(10, 2));
    const paths = [a, b];
    const file = new ResumeFile(dir, infoHash.toString('hex'));
    const pieces = Bitfield.fromString('110');
    await file.save({ infoHash, pieces, files: await stampFiles(paths) });
    const loaded = await file.load({ infoHash, pieceCount: 3 }, paths);
    assert.equal(loaded?.toString(), '110');

    // Same size, newer time: a write after the record (a crash mid-download looks like this).
    await utimes(b, new Date(), new Date(Date.now() + 5_000));
    assert.equal(await file.load({ infoHash, pieceCount: 3 }, paths), undefined);
    // Recorded again, then grown.
    await file.save({ infoHash, pieces, files: await stampFiles(paths) });
    assert.ok(await file.load({ infoHash, pieceCount: 3 }, paths));
    await appendFile(a, 'x');
    assert.equal(await file.load({ infoHash, pieceCount: 3 }, paths), undefined);
    // Recorded again, then a file is gone.
    await file.save({ infoHash, pieces, files: await stampFiles(paths) });
    await rm(b);
    assert.equal(await file.load({ infoHash, pieceCount: 3 }, paths), undefined);
  });

  it('records a missing file as missing, and then it must still be missing', async () => {
    const gone = join(dir, 'never-written.bin');
    const stamps = await stampFiles([gone]);
    assert.deepEqual(stamps, [{ size: -1, mtimeNs: 0n }]);
    assert.ok(sameStamps(stamps, await stampFiles([gone])));
    await writeFile(gone, '');
    assert.equal(sameStamps(stamps, await stampFiles([gone])), false);
  });

  it('is nothing when there is no record yet', async () => {
    const file = new ResumeFile(dir, Buffer.alloc(20, 9).toString('hex'));
    assert.equal(await file.load({ infoHash: Buffer.alloc(20, 9), pieceCount: 3 }, []), undefined);
  });
});

describe('writeStateFile', () => {
  it('replaces the file whole and leaves no temporary file behind', async () => {
    const sub = await mkdtemp(join(dir, 'state-'));
    const path = join(sub, 'x.resume');
    await writeStateFile(path, Buffer.from('first'));
    await writeStateFile(path, Buffer.from('second, longer'));
    assert.deepEqual(await readdir(sub), ['x.resume']);
    const { readFile } = await import('node:fs/promises');
    assert.equal((await readFile(path)).toString(), 'second, longer');
  });
});
