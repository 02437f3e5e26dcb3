/**
 * Resume data: the record of verified chunks stands only while every file is exactly as it was when the
 * record was written; anything else (a later write, a changed or missing file, a damaged record) makes
 * the caller check the data in full.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildInfoDict } from '../../src/metainfo/create.js';
import { metainfoFromInfoBytes } from '../../src/metainfo/parse.js';
import {
  decodeResume,
  encodeResume,
  keepResumeData,
  openDownloadStorage,
  ResumeFile,
  sameStamps,
  stampFiles,
  writeStateFile,
} from '../../src/session/resume.js';
import type { SessionEvents } from '../../src/session/session.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { FakeClock } from '../../src/shared/clock.js';
import { TypedEmitter } from '../../src/shared/events.js';
import { FileStorage, PieceHasher } from '../../src/storage/index.js';
import { buildLayout, piece } from '../storage/helpers.js';

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

  it('keeps the placement of a selection: the files in place and the part file stamp', () => {
    const placed = { ...record, placement: { inFile: [1], part: { size: 4096, mtimeNs: 5n } } };
    const back = decodeResume(encodeResume(placed), expect);
    assert.deepEqual(back?.placement, placed.placement);
    assert.equal(decodeResume(encodeResume(record), expect)?.placement, undefined);
    // A file index the torrent does not have is no record.
    const bad = { ...record, placement: { inFile: [2], part: { size: 1, mtimeNs: 1n } } };
    assert.equal(decodeResume(encodeResume(bad), expect), undefined);
  });

  it('keeps the unsure chunks, and is no record when their bitfield has the wrong length', () => {
    const unsure = Bitfield.fromString('0100100000');
    const back = decodeResume(encodeResume({ ...record, unsure }), expect);
    assert.equal(back?.unsure?.toString(), '0100100000');
    // Written without any: none.
    assert.equal(decodeResume(encodeResume(record), expect)?.unsure?.count, 0);
    const long = encodeResume({ ...record, unsure: Bitfield.fromString('01001000001000000') });
    assert.equal(decodeResume(long, expect), undefined);
  });

  it('is no record when written by version 1, which did not say where a selection kept its bytes', () => {
    const v1 = Buffer.from(
      encodeResume(record).toString('latin1').replace('17:chunkswarm resumei2e', '17:chunkswarm resumei1e'),
      'latin1',
    );
    assert.notDeepEqual(v1, encodeResume(record));
    assert.equal(decodeResume(v1, expect), undefined);
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
    const loaded = await file.load({ infoHash, pieceCount: 3 }, { paths });
    assert.equal(loaded?.toString(), '110');

    // Same size, newer time: a write after the record (a crash mid-download looks like this).
    await utimes(b, new Date(), new Date(Date.now() + 5_000));
    assert.equal(await file.load({ infoHash, pieceCount: 3 }, { paths }), undefined);
    // Recorded again, then grown.
    await file.save({ infoHash, pieces, files: await stampFiles(paths) });
    assert.ok(await file.load({ infoHash, pieceCount: 3 }, { paths }));
    await appendFile(a, 'x');
    assert.equal(await file.load({ infoHash, pieceCount: 3 }, { paths }), undefined);
    // Recorded again, then a file is gone.
    await file.save({ infoHash, pieces, files: await stampFiles(paths) });
    await rm(b);
    assert.equal(await file.load({ infoHash, pieceCount: 3 }, { paths }), undefined);
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
    assert.equal(await file.load({ infoHash: Buffer.alloc(20, 9), pieceCount: 3 }, { paths: [] }), undefined);
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

describe('keepResumeData on the fake clock', () => {
  /**
   * A session as keepResumeData sees it, with chunks verified by hand. The record's writes are noted with
   * the fake time they started and the chunks they held (no disk: the schedule is what is under test).
   */
  function harness(
    opts: {
      /** How long a sync of the data takes, on the fake clock. */
      flushMs?: number;
      saveFails?: Error;
      onError?: (m: string) => void;
    } = {},
  ) {
    const clock = new FakeClock(0);
    const have = new Bitfield(64);
    const events = new TypedEmitter<SessionEvents>();
    const saves: { at: number; count: number }[] = [];
    class NotedFile extends ResumeFile {
      override async save(record: { pieces: Bitfield }): Promise<void> {
        saves.push({ at: clock.now(), count: record.pieces.count });
        if (opts.saveFails) throw opts.saveFails;
      }
    }
    let flushes = 0;
    const storage = {
      paths: [],
      flush: async () => {
        flushes++;
        if (opts.flushMs) await new Promise<void>((done) => clock.setTimeout(done, opts.flushMs!));
      },
    };
    const subject = {
      have,
      infoHash,
      events,
      clock,
      get complete() {
        return have.complete;
      },
    };
    const keeper = keepResumeData(
      subject,
      storage,
      new NotedFile(dir, 'ab'.repeat(20)),
      opts.onError ?? ((m) => assert.fail(m)),
    );
    const verified: number[] = [];
    const verify = (i: number): void => {
      have.set(i);
      verified.push(clock.now());
      events.emit('piece-verified', i, undefined);
    };
    return { clock, verify, saves, verified, keeper, flushes: () => flushes };
  }

  /**
   * Each chunk is in a record written at most a second after its verification; at `now`, those of the
   * last second may still wait for theirs.
   */
  function eachInTheRecordWithinASecond(
    h: { verified: number[]; saves: { at: number; count: number }[] },
    now: number,
  ): void {
    h.verified.forEach((at, n) => {
      const save = h.saves.find((s) => s.count >= n + 1);
      if (save)
        assert.ok(save.at - at <= 1000, `chunk ${n} verified at ${at} ms, in the record at ${save.at} ms`);
      else assert.ok(at > now - 1000, `chunk ${n} verified at ${at} ms is in no record at ${now} ms`);
    });
  }

  it('records each chunk within a second while chunks keep coming, not only once they stop', async () => {
    const h = harness();
    // A chunk every 200 ms for 5 s: the old rule (save after a quiet second) never saved in that time.
    for (let i = 0; i < 25; i++) {
      h.verify(i);
      await h.clock.advanceAsync(200);
    }
    eachInTheRecordWithinASecond(h, 5000);
    // About once a second, not once per chunk.
    assert.ok(h.saves.length <= 7, `${h.saves.length} saves for 25 chunks in 5 s`);
    await h.keeper.stop();
    assert.equal(h.saves.at(-1)?.count, 25);
  });

  it('lists the chunks verified while a save synced the data in the next save, within their second', async () => {
    const h = harness({ flushMs: 100 });
    // The first save starts at 750 ms and syncs until 850; two chunks come at 760 and 800.
    await h.clock.advanceAsync(760);
    h.verify(0);
    await h.clock.advanceAsync(40);
    h.verify(1);
    await h.clock.advanceAsync(50);
    // That save listed the chunks before its sync began.
    assert.deepEqual(h.saves, [{ at: 850, count: 0 }]);
    // The next starts as late as the chunk of 760 ms allows with a sync as long as the last: it is in the
    // record at 1,760 ms, not at once, and not only once more chunks come.
    await h.clock.advanceAsync(1000);
    assert.deepEqual(h.saves, [
      { at: 850, count: 0 },
      { at: 1760, count: 2 },
    ]);
    await h.keeper.stop();
  });

  it('syncs about once a second while chunks keep coming, each save begun early enough for its sync', async () => {
    // A chunk every 100 ms for 6 s, and a sync that takes a fifth of a second: saving again as soon as a
    // save ended synced the data back to back, 26 times here.
    const h = harness({ flushMs: 200 });
    for (let i = 0; i < 60; i++) {
      h.verify(i);
      await h.clock.advanceAsync(100);
    }
    eachInTheRecordWithinASecond(h, 6000);
    assert.ok(h.flushes() <= 8, `${h.flushes()} syncs in 6 s`);
    // The last save syncs on the fake clock too.
    const stopped = h.keeper.stop();
    await h.clock.advanceAsync(1000);
    await stopped;
    assert.equal(h.saves.at(-1)?.count, 60);
  });

  it('on a full disk says so once, in one line that names the file, and keeps trying each second', async () => {
    const said: string[] = [];
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const h = harness({ saveFails: full, onError: (m) => said.push(m) });
    for (let i = 0; i < 5; i++) {
      h.verify(i);
      await h.clock.advanceAsync(1000);
    }
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0]!, /^cannot save resume data to \S+\.resume: no space left on device \(ENOSPC\)$/);
    // Room may come back (another download finishes): each new chunk is tried again within its second.
    assert.ok(h.saves.length >= 5, `${h.saves.length} tries in 5 s`);
  });

  it('saves the state found at start once, and nothing more while nothing arrives', async () => {
    const h = harness();
    await h.clock.advanceAsync(10_000);
    assert.deepEqual(h.saves, [{ at: 750, count: 0 }]);
  });
});

describe('a record and the writes around it, on a real file', () => {
  const hasher = new PieceHasher({ inlineBelow: Number.POSITIVE_INFINITY });
  after(() => hasher.close());

  it('lists the chunks written after the list as unsure; the next start hashes them, keeps the whole, drops the torn', async () => {
    const built = buildLayout('rec.bin', [{ path: ['rec.bin'], length: 4 * 16_384 + 5 }], 16_384, false);
    const m = metainfoFromInfoBytes(buildInfoDict(built.layout));
    const folder = await mkdtemp(join(dir, 'unsure-'));
    const contentPath = join(folder, 'rec.bin');
    const resume = new ResumeFile(folder, m.infoHashHex);
    const storage = new FileStorage(m, contentPath);
    await storage.prepare();
    // The session has verified chunk 0 when a save lists its chunks; chunks 1 to 3 are stored while the
    // save syncs (their writes change the file's time before the stamp), chunk 3 only in part when the
    // process dies.
    const have = Bitfield.fromString('10000');
    for (let i = 0; i < 4; i++) await storage.writePiece(i, piece(built, i));
    const h = await open(contentPath, 'r+');
    await h.write(Buffer.alloc(100), 0, 100, 3 * 16_384 + 50);
    await h.close();
    const subject = {
      have,
      infoHash: m.infoHash,
      events: new TypedEmitter<SessionEvents>(),
      clock: new FakeClock(0),
      complete: false,
    };
    await keepResumeData(subject, storage, resume, (e) => assert.fail(e)).stop();
    await storage.close();
    const record = await resume.read({ infoHash: m.infoHash, pieceCount: m.pieceCount, fileCount: 1 });
    assert.equal(record?.pieces.toString(), '10000');
    assert.equal(record?.unsure?.toString(), '01110');

    // The files are as stamped: the record is trusted, and its unsure chunks are hashed, not taken.
    const opened = await openDownloadStorage({
      metainfo: m,
      contentPath,
      partPath: join(folder, 'part'),
      files: undefined,
      resume,
      hasher,
    });
    await opened.storage.close();
    assert.equal(opened.recorded, true);
    assert.equal(
      opened.have.toString(),
      '11100',
      'whole chunks on disk that the record did not list are held',
    );
  });
});
