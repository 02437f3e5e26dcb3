import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type BDict, decode, dictGet, encode } from '../../src/codec/index.js';
import {
  buildInfoDict,
  buildTorrentFile,
  CREATED_BY,
  createTorrent,
  parseMetainfo,
  pieceSize,
  pieceSpans,
} from '../../src/metainfo/index.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import { hashPieces, KiB } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'chunkswarm-metainfo-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const fresh = (): string => {
  const dir = join(root, `case${seq++}`);
  mkdirSync(dir);
  return dir;
};

const TRACKER = 'http://127.0.0.1:6969/announce';

describe('createTorrent: single file', () => {
  test('makes the libtorrent-shaped info dict and parses back to the same torrent', async () => {
    const dir = fresh();
    const data = randomBytes(100 * KiB + 123);
    const file = join(dir, 'movie.bin');
    writeFileSync(file, data);
    const { torrent, metainfo } = await createTorrent({
      path: file,
      trackers: [TRACKER],
      pieceLength: 32 * KiB,
      creationDate: 1234567890,
    });
    assert.deepEqual(parseMetainfo(torrent), metainfo);
    assert.equal(metainfo.name, 'movie.bin');
    assert.equal(metainfo.multiFile, false);
    assert.equal(metainfo.totalLength, data.length);
    assert.equal(metainfo.pieceCount, 4);
    assert.deepEqual(metainfo.pieceHashes, hashPieces(data, 32 * KiB));

    // Exactly libtorrent's v1 single-file info dict: these four keys, in this order.
    const pieces = hashPieces(data, 32 * KiB);
    const expectedInfo = Buffer.concat([
      Buffer.from(
        `d6:lengthi${data.length}e4:name9:movie.bin12:piece lengthi${32 * KiB}e6:pieces${pieces.length}:`,
      ),
      pieces,
      Buffer.from('e'),
    ]);
    assert.deepEqual(metainfo.infoBytes, expectedInfo);
    assert.deepEqual(metainfo.infoHash, createHash('sha1').update(expectedInfo).digest());

    // Outer dict: announce, created by, creation date, info; no announce-list for one tracker.
    const outer = decode(torrent) as BDict;
    assert.deepEqual([...outer.keys()], ['announce', 'created by', 'creation date', 'info']);
    assert.equal(metainfo.createdBy, CREATED_BY);
    assert.equal(metainfo.creationDate, 1234567890);
    assert.equal(metainfo.announce, TRACKER);
    assert.deepEqual(metainfo.announceList, [[TRACKER]]);
  });

  test('default piece length, default creation date, progress reaches the total', async () => {
    const dir = fresh();
    const data = randomBytes(LIMITS.defaultPieceLength * 2 + 5);
    writeFileSync(join(dir, 'x'), data);
    const seen: [number, number][] = [];
    const before = Math.floor(Date.now() / 1000);
    const { metainfo } = await createTorrent({
      path: join(dir, 'x'),
      trackers: [TRACKER],
      onProgress: (done, total) => seen.push([done, total]),
    });
    assert.equal(metainfo.pieceLength, LIMITS.defaultPieceLength);
    assert.equal(metainfo.pieceCount, 3);
    assert.ok(metainfo.creationDate !== undefined && metainfo.creationDate >= before);
    assert.deepEqual(seen[seen.length - 1], [data.length, data.length]);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0]);
  });

  test('several trackers: announce is the first, each tracker its own tier (BEP 12)', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'f'), 'hello');
    const trackers = ['http://a/announce', 'udp://b:80', 'http://a/announce', 'http://c/announce'];
    const { torrent, metainfo } = await createTorrent({
      path: join(dir, 'f'),
      trackers,
      comment: 'a comment',
      createdBy: 'tester',
      creationDate: 5,
    });
    assert.equal(metainfo.announce, 'http://a/announce');
    assert.deepEqual(metainfo.announceList, [['http://a/announce'], ['udp://b:80'], ['http://c/announce']]);
    assert.equal(metainfo.comment, 'a comment');
    assert.equal(metainfo.createdBy, 'tester');
    const info = dictGet(decode(torrent) as BDict, 'info') as BDict;
    assert.deepEqual([...info.keys()], ['length', 'name', 'piece length', 'pieces']);
  });

  test('non-ASCII and spaced names are kept', async () => {
    const dir = fresh();
    const file = join(dir, 'Grüße aus 東京.txt');
    writeFileSync(file, 'content');
    const { metainfo } = await createTorrent({ path: file, trackers: [TRACKER] });
    assert.equal(metainfo.name, 'Grüße aus 東京.txt');
    assert.deepEqual(metainfo.files[0]!.path, ['Grüße aus 東京.txt']);
  });
});

describe('createTorrent: folder', () => {
  test('files ordered by UTF-8 byte order of their components, empty files kept, pieces span files', async () => {
    const dir = join(fresh(), 'My Folder');
    mkdirSync(dir);
    const contents: Record<string, Buffer> = {
      b: randomBytes(20 * KiB),
      'a-b': randomBytes(3),
      'a/z': randomBytes(17 * KiB),
      'a/y/deep': randomBytes(1),
      A: Buffer.alloc(0),
      é: randomBytes(40 * KiB),
      'z space/empty': Buffer.alloc(0),
    };
    for (const [rel, data] of Object.entries(contents)) {
      const parts = rel.split('/');
      mkdirSync(join(dir, ...parts.slice(0, -1)), { recursive: true });
      writeFileSync(join(dir, ...parts), data);
    }
    const { torrent, metainfo } = await createTorrent({
      path: dir,
      trackers: [TRACKER],
      pieceLength: 16 * KiB,
    });
    // 'A' (0x41) < 'a' ; within 'a': 'y' < 'z' ; 'a' folder before 'a-b' since components compare
    // first ('a' is a prefix of 'a-b'); 'é' (0xc3) sorts after 'z space' (0x7a).
    const order = ['A', 'a/y/deep', 'a/z', 'a-b', 'b', 'z space/empty', 'é'];
    assert.deepEqual(
      metainfo.files.map((f) => f.path.join('/')),
      order,
    );
    assert.equal(metainfo.name, 'My Folder');
    assert.equal(metainfo.multiFile, true);
    const all = Buffer.concat(order.map((p) => contents[p]!));
    assert.equal(metainfo.totalLength, all.length);
    assert.deepEqual(metainfo.pieceHashes, hashPieces(all, 16 * KiB));
    assert.deepEqual(parseMetainfo(torrent), metainfo);

    // Read every piece back through pieceSpans and check it against its hash.
    for (let i = 0; i < metainfo.pieceCount; i++) {
      const piece = Buffer.concat(
        pieceSpans(metainfo, i).map((s) => {
          const f = metainfo.files[s.fileIndex]!;
          return contents[f.path.join('/')]!.subarray(s.fileOffset, s.fileOffset + s.length);
        }),
      );
      assert.equal(piece.length, pieceSize(metainfo, i));
      assert.deepEqual(
        createHash('sha1').update(piece).digest(),
        metainfo.pieceHashes.subarray(i * 20, i * 20 + 20),
      );
    }

    const info = dictGet(decode(torrent) as BDict, 'info') as BDict;
    assert.deepEqual([...info.keys()], ['files', 'name', 'piece length', 'pieces']);
  });

  test('symbolic links are followed, and a link back up the tree does not loop', async () => {
    const dir = join(fresh(), 'root');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'data'), 'abc');
    const outside = join(fresh(), 'outside.txt');
    writeFileSync(outside, 'linked');
    symlinkSync(outside, join(dir, 'link.txt'));
    symlinkSync(dir, join(dir, 'sub', 'loop'));
    const { metainfo } = await createTorrent({ path: dir, trackers: [TRACKER] });
    assert.deepEqual(
      metainfo.files.map((f) => [f.path.join('/'), f.length]),
      [
        ['link.txt', 6],
        ['sub/data', 3],
      ],
    );
  });

  test('FIFOs and other special files are skipped', async (t) => {
    const dir = join(fresh(), 'withfifo');
    mkdirSync(dir);
    writeFileSync(join(dir, 'real'), 'data');
    if (spawnSync('mkfifo', [join(dir, 'pipe')]).status !== 0) {
      t.skip('mkfifo is not available');
      return;
    }
    const { metainfo } = await createTorrent({ path: dir, trackers: [TRACKER] });
    assert.deepEqual(
      metainfo.files.map((f) => f.path.join('/')),
      ['real'],
    );
  });
});

describe('createTorrent: refusals', () => {
  const refused = async (opts: Parameters<typeof createTorrent>[0], code: string, message?: RegExp) => {
    await assert.rejects(createTorrent(opts), (e: unknown) => {
      assert.ok(e instanceof ChunkswarmError, String(e));
      assert.equal(e.code, code, e.message);
      if (message) assert.match(e.message, message);
      return true;
    });
  };

  test('missing path, empty content, bad piece length, unsafe names', async () => {
    const dir = fresh();
    await refused({ path: join(dir, 'nope'), trackers: [TRACKER] }, 'EUSAGE', /cannot read/);
    mkdirSync(join(dir, 'empty-dir', 'inner'), { recursive: true });
    writeFileSync(join(dir, 'empty-dir', 'inner', 'zero'), '');
    await refused({ path: join(dir, 'empty-dir'), trackers: [TRACKER] }, 'EUSAGE', /holds no data/);
    writeFileSync(join(dir, 'zero'), '');
    await refused({ path: join(dir, 'zero'), trackers: [TRACKER] }, 'EUSAGE', /holds no data/);
    writeFileSync(join(dir, 'ok'), 'x');
    for (const pieceLength of [1000, 8 * KiB, 32 * 1024 * KiB, 0]) {
      await refused({ path: join(dir, 'ok'), trackers: [TRACKER], pieceLength }, 'EUSAGE', /power of two/);
    }
    mkdirSync(join(dir, 'bad'));
    writeFileSync(join(dir, 'bad', 'back\\slash'), 'x');
    await refused({ path: join(dir, 'bad'), trackers: [TRACKER] }, 'EUNSAFE_PATH');
  });

  test('a broken symbolic link in a folder is reported, not skipped silently', async () => {
    const dir = join(fresh(), 'broken');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ok'), 'x');
    symlinkSync(join(dir, 'missing-target'), join(dir, 'dangling'));
    await refused({ path: dir, trackers: [TRACKER] }, 'ESTORAGE', /dangling/);
  });
});

describe('buildInfoDict and buildTorrentFile', () => {
  test('buildTorrentFile keeps the info bytes as given and sorts the outer keys', () => {
    const info = buildInfoDict({
      name: 'n',
      pieceLength: 16 * KiB,
      pieceHashes: Buffer.alloc(20, 9),
      files: [{ path: ['n'], length: 10 }],
      multiFile: false,
    });
    const torrent = buildTorrentFile(info, {
      trackers: ['http://b', 'http://a'],
      comment: 'c',
      createdBy: 'x',
      creationDate: 1,
    });
    // Re-encoding the decoded file yields the same bytes only when every key is in BEP 3 order.
    assert.deepEqual(encode(decode(torrent) as BDict), torrent);
    const m = parseMetainfo(torrent);
    assert.deepEqual(m.infoBytes, info);
    assert.deepEqual(m.announceList, [['http://b'], ['http://a']]);
    const bare = parseMetainfo(buildTorrentFile(info, { trackers: [] }));
    assert.equal(bare.announce, undefined);
    assert.equal(bare.createdBy, undefined);
  });

  test('buildInfoDict refuses a single-file torrent with several files', () => {
    assert.throws(
      () =>
        buildInfoDict({
          name: 'n',
          pieceLength: 16 * KiB,
          pieceHashes: Buffer.alloc(20),
          files: [
            { path: ['a'], length: 1 },
            { path: ['b'], length: 1 },
          ],
          multiFile: false,
        }),
      ChunkswarmError,
    );
  });
});
