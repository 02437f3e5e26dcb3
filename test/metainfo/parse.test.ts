import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { decode, type Encodable, encode } from '../../src/codec/index.js';
import { layoutFromInfo, metainfoFromInfoBytes, parseMetainfo } from '../../src/metainfo/index.js';
import { ChunkswarmError, type ErrorCode } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import { KiB, multiInfo, singleInfo, torrentBytes } from './helpers.js';

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();
const b = (s: string) => Buffer.from(s, 'latin1');

function refused(input: Uint8Array, code: ErrorCode, message?: string | RegExp): void {
  assert.throws(
    () => parseMetainfo(input),
    (e: unknown) => {
      assert.ok(e instanceof ChunkswarmError, `not a ChunkswarmError: ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.ok(!e.message.includes('\n'), 'one line');
      if (typeof message === 'string') assert.equal(e.message, message);
      else if (message) assert.match(e.message, message);
      return true;
    },
  );
}

describe('parseMetainfo: valid torrents', () => {
  test('single file', () => {
    const info = singleInfo({}, 40 * KiB);
    const bytes = torrentBytes(info, {
      announce: 'http://t/announce',
      comment: 'hello',
      'created by': 'someone',
      'creation date': 1700000000,
    });
    const m = parseMetainfo(bytes);
    assert.equal(m.name, 'file.bin');
    assert.equal(m.pieceLength, 16 * KiB);
    assert.equal(m.pieceCount, 3);
    assert.equal(m.totalLength, 40 * KiB);
    assert.equal(m.multiFile, false);
    assert.deepEqual(m.files, [{ path: ['file.bin'], length: 40 * KiB, offset: 0 }]);
    assert.deepEqual(m.pieceHashes, info.pieces);
    assert.equal(m.announce, 'http://t/announce');
    assert.deepEqual(m.announceList, [['http://t/announce']]);
    assert.equal(m.private, false);
    assert.equal(m.comment, 'hello');
    assert.equal(m.createdBy, 'someone');
    assert.equal(m.creationDate, 1700000000);
    assert.deepEqual(m.infoBytes, encode(info));
    assert.deepEqual(m.infoHash, sha1(encode(info)));
    assert.equal(m.infoHashHex, sha1(encode(info)).toString('hex'));
  });

  test('multi-file: paths below the name, offsets in order, empty files kept', () => {
    const info = multiInfo([
      { length: 10 * KiB, path: ['a', 'one.txt'] },
      { length: 0, path: ['empty'] },
      { length: 30 * KiB, path: ['b', 'c', 'two.bin'] },
    ]);
    const m = parseMetainfo(torrentBytes(info));
    assert.equal(m.name, 'folder');
    assert.equal(m.multiFile, true);
    assert.equal(m.totalLength, 40 * KiB);
    assert.equal(m.pieceCount, 3);
    assert.deepEqual(m.files, [
      { path: ['a', 'one.txt'], length: 10 * KiB, offset: 0 },
      { path: ['empty'], length: 0, offset: 10 * KiB },
      { path: ['b', 'c', 'two.bin'], length: 30 * KiB, offset: 10 * KiB },
    ]);
  });

  test('the infohash is the SHA-1 of the exact info bytes, even when they are not canonical', () => {
    // Unsorted keys inside info: a re-encoding would sort them and hash differently.
    const pieces = Buffer.alloc(20, 1);
    const infoRaw = Buffer.concat([
      b('d4:name3:abc6:lengthi5e12:piece lengthi16384e6:pieces20:'),
      pieces,
      b('7:unknownli1ei2eee'),
    ]);
    const bytes = Buffer.concat([b('d8:announce8:http://x4:info'), infoRaw, b('e')]);
    const m = parseMetainfo(bytes);
    assert.deepEqual(m.infoBytes, infoRaw);
    assert.deepEqual(m.infoHash, sha1(infoRaw));
    assert.notDeepEqual(m.infoHash, sha1(encode(decode(infoRaw, { strictKeyOrder: false }) as Encodable)));
  });

  test('outer keys out of order are accepted; unknown keys ignored', () => {
    const info = encode(singleInfo());
    const bytes = Buffer.concat([b('d4:info'), info, b('8:announce8:http://x3:zzzi1ee')]);
    const m = parseMetainfo(bytes);
    assert.equal(m.announce, 'http://x');
    assert.deepEqual(m.infoHash, sha1(info));
  });

  test('the Metainfo does not change when the caller reuses its input buffer', () => {
    const bytes = torrentBytes(singleInfo());
    const m = parseMetainfo(bytes);
    const hashes = Buffer.from(m.pieceHashes);
    const infoBytes = Buffer.from(m.infoBytes);
    bytes.fill(0);
    assert.deepEqual(m.pieceHashes, hashes);
    assert.deepEqual(m.infoBytes, infoBytes);
  });

  test('non-ASCII names and paths are kept; .utf-8 variants are preferred', () => {
    const m1 = parseMetainfo(torrentBytes(singleInfo({ name: 'Überraschung 日本.mkv' })));
    assert.equal(m1.name, 'Überraschung 日本.mkv');
    assert.deepEqual(m1.files[0]!.path, ['Überraschung 日本.mkv']);

    const legacy = Buffer.from([0x93, 0xfa, 0x96, 0x7b]); // Shift-JIS, not UTF-8
    const m2 = parseMetainfo(torrentBytes(singleInfo({ name: legacy, 'name.utf-8': '日本' })));
    assert.equal(m2.name, '日本');

    const info = multiInfo([{ length: 20 * KiB, path: ['legacy'] }]);
    const files = [{ length: 20 * KiB, path: [legacy], 'path.utf-8': ['ファイル', 'x y.txt'] }];
    const m3 = parseMetainfo(torrentBytes({ ...info, files }));
    assert.deepEqual(m3.files[0]!.path, ['ファイル', 'x y.txt']);
  });

  test('BEP 12 announce-list: tiers kept, non-strings ignored, announce alone makes one tier', () => {
    const m = parseMetainfo(
      torrentBytes(singleInfo(), {
        announce: 'http://a/announce',
        'announce-list': [['http://a/announce', 7, 'http://b/announce'], [], 'junk', [[]], ['udp://c:80']],
      }),
    );
    assert.deepEqual(m.announceList, [['http://a/announce', 'http://b/announce'], ['udp://c:80']]);

    const only = parseMetainfo(
      torrentBytes(singleInfo(), { announce: 'http://a/announce', 'announce-list': [] }),
    );
    assert.deepEqual(only.announceList, [['http://a/announce']]);

    const none = parseMetainfo(torrentBytes(singleInfo(), {}));
    assert.equal(none.announce, undefined);
    assert.deepEqual(none.announceList, []);

    const listOnly = parseMetainfo(torrentBytes(singleInfo(), { 'announce-list': [['http://z']] }));
    assert.equal(listOnly.announce, undefined);
    assert.deepEqual(listOnly.announceList, [['http://z']]);
  });

  test('private (BEP 27) only when the integer 1', () => {
    assert.equal(parseMetainfo(torrentBytes(singleInfo({ private: 1 }))).private, true);
    assert.equal(parseMetainfo(torrentBytes(singleInfo({ private: 0 }))).private, false);
    assert.equal(parseMetainfo(torrentBytes(singleInfo({ private: '1' }))).private, false);
  });

  test('optional descriptive keys of the wrong type are ignored', () => {
    const m = parseMetainfo(
      torrentBytes(singleInfo(), {
        announce: 5,
        comment: 7,
        'created by': [1],
        'creation date': 'yesterday',
      }),
    );
    assert.equal(m.announce, undefined);
    assert.equal(m.comment, undefined);
    assert.equal(m.createdBy, undefined);
    assert.equal(m.creationDate, undefined);
  });

  test('BEP 47 padding files leave the file list: their zeros are padding, the next file keeps its offset', () => {
    const info = multiInfo([
      { length: 10 * KiB, path: ['a.bin'] },
      { length: 6 * KiB, path: ['.pad', '6144'], attr: 'p' },
      { length: 10 * KiB, path: ['b.bin'] },
      { length: 6 * KiB, path: ['.pad', '6144'], attr: 'xp' },
    ]);
    const m = parseMetainfo(torrentBytes(info));
    assert.deepEqual(
      m.files.map((f) => [f.path.join('/'), f.offset, f.length]),
      [
        ['a.bin', 0, 10 * KiB],
        ['b.bin', 16 * KiB, 10 * KiB],
      ],
    );
    assert.deepEqual(m.padding, [
      { offset: 10 * KiB, length: 6 * KiB },
      { offset: 26 * KiB, length: 6 * KiB },
    ]);
    // Two padding files of one path are no clash: neither is ever written.
    assert.equal(m.totalLength, 32 * KiB);
    assert.equal(m.files[0]!.executable, undefined);
    assert.equal(m.pieceCount, 2);
  });

  test('BEP 19 web seeds: one URL or a list, http(s) only, no repeats', () => {
    const one = parseMetainfo(torrentBytes(singleInfo(), { 'url-list': 'https://example.org/file.bin' }));
    assert.deepEqual(one.webSeeds, ['https://example.org/file.bin']);
    const list = parseMetainfo(
      torrentBytes(singleInfo(), {
        'url-list': ['http://a.example/x', 'ftp://b.example/x', 5, 'http://a.example/x', 'HTTP://c.example/'],
      }),
    );
    assert.deepEqual(list.webSeeds, ['http://a.example/x', 'HTTP://c.example/']);
    assert.deepEqual(parseMetainfo(torrentBytes(singleInfo())).webSeeds, []);
  });

  test("BEP 47's 'x' marks a file executable, in a folder or alone; other flags are ignored", () => {
    const m = parseMetainfo(
      torrentBytes(
        multiInfo([
          { length: 10 * KiB, path: ['run.sh'], attr: 'xh' },
          { length: 6 * KiB, path: ['notes.txt'], attr: 'hq' },
        ]),
      ),
    );
    assert.deepEqual(
      m.files.map((f) => [f.path.join('/'), f.executable ?? false]),
      [
        ['run.sh', true],
        ['notes.txt', false],
      ],
    );
    assert.equal(parseMetainfo(torrentBytes(singleInfo({ attr: 'x' }))).files[0]!.executable, true);
  });

  test("BitComet's padding files (_____padding_file_...) are padding too; a torrent without any has no `padding`", () => {
    const m = parseMetainfo(
      torrentBytes(
        multiInfo([
          { length: 10 * KiB, path: ['a.bin'] },
          {
            length: 6 * KiB,
            path: ['_____padding_file_0_if you see this file, please update to BitComet 0.85 or above____'],
          },
          { length: 16 * KiB, path: ['b.bin'] },
        ]),
      ),
    );
    assert.deepEqual(
      m.files.map((f) => f.path.join('/')),
      ['a.bin', 'b.bin'],
    );
    assert.deepEqual(m.padding, [{ offset: 10 * KiB, length: 6 * KiB }]);
    const plain = parseMetainfo(torrentBytes(multiInfo([{ length: 32 * KiB, path: ['a.bin'] }])));
    assert.equal(plain.padding, undefined);
  });

  test('every allowed piece length: powers of two from 16 KiB to 16 MiB', () => {
    for (let pl = 16 * KiB; pl <= 16 * 1024 * KiB; pl *= 2) {
      const m = parseMetainfo(torrentBytes(singleInfo({ 'piece length': pl, pieces: Buffer.alloc(20) }, 1)));
      assert.equal(m.pieceLength, pl);
      assert.equal(m.pieceCount, 1);
    }
  });

  test('a torrent right at the piece boundary has no extra piece', () => {
    const m = parseMetainfo(torrentBytes(singleInfo({}, 32 * KiB)));
    assert.equal(m.pieceCount, 2);
  });
});

describe('parseMetainfo: refusals', () => {
  test('not bencode, or not a dictionary', () => {
    refused(b(''), 'EBENCODE_TRUNCATED');
    refused(b('hello'), 'EBENCODE_SYNTAX', /^not a valid torrent file: /);
    refused(b('li1ee'), 'EBENCODE_SYNTAX');
    refused(Buffer.concat([torrentBytes(singleInfo()), b('x')]), 'EBENCODE_TRAILING');
  });

  test('duplicate keys are refused anywhere', () => {
    const info = encode(singleInfo());
    refused(Buffer.concat([b('d4:info'), info, b('4:info'), info, b('e')]), 'EBENCODE_KEY_ORDER');
    const dupInner = b('d4:infod6:lengthi1e6:lengthi1eee');
    refused(dupInner, 'EBENCODE_KEY_ORDER');
  });

  test('info missing or not a dictionary', () => {
    refused(encode({ announce: 'http://x' }), 'EMETAINFO', "not a torrent: 'info' dictionary missing");
    refused(encode({ info: 'x' }), 'EMETAINFO', "not a torrent: 'info' is not a dictionary");
  });

  test('name', () => {
    refused(torrentBytes(singleInfo({ name: undefined })), 'EMETAINFO', "'info' has no 'name'");
    refused(torrentBytes(singleInfo({ name: 3 })), 'EMETAINFO', "'name' must be a string");
    refused(torrentBytes(singleInfo({ name: '' })), 'EUNSAFE_PATH');
    refused(torrentBytes(singleInfo({ name: '..' })), 'EUNSAFE_PATH');
    refused(torrentBytes(singleInfo({ name: '../../etc/passwd' })), 'EUNSAFE_PATH');
    refused(torrentBytes(singleInfo({ name: 'C:\\x' })), 'EUNSAFE_PATH');
    refused(torrentBytes(singleInfo({ name: 'ok', 'name.utf-8': '..' })), 'EUNSAFE_PATH');
  });

  test('piece length', () => {
    refused(
      torrentBytes(singleInfo({ 'piece length': undefined })),
      'EMETAINFO',
      "'info' has no 'piece length'",
    );
    refused(
      torrentBytes(singleInfo({ 'piece length': '16384' })),
      'EMETAINFO',
      "'piece length' must be an integer",
    );
    for (const pl of [0, -16384, 1000, 8 * KiB, 24 * KiB, 32 * 1024 * KiB]) {
      refused(
        torrentBytes(singleInfo({ 'piece length': pl })),
        'EMETAINFO',
        `'piece length' ${pl} is not a power of two between 16 KiB and 16 MiB`,
      );
    }
  });

  test('pieces', () => {
    refused(torrentBytes(singleInfo({ pieces: undefined })), 'EMETAINFO', "'info' has no 'pieces'");
    refused(torrentBytes(singleInfo({ pieces: 5 })), 'EMETAINFO', "'pieces' must be a string");
    refused(
      torrentBytes(singleInfo({ pieces: undefined, 'meta version': 2, 'file tree': {} })),
      'EMETAINFO',
      'BitTorrent v2-only torrents (BEP 52) are not supported',
    );
    refused(
      torrentBytes(singleInfo({ pieces: Buffer.alloc(41) })),
      'EMETAINFO',
      "'pieces' length 41 is not a multiple of 20",
    );
    refused(
      torrentBytes(singleInfo({ pieces: Buffer.alloc(40) }, 40 * KiB)),
      'EMETAINFO',
      "'pieces' holds 2 hashes but 40960 bytes in pieces of 16384 need 3",
    );
    refused(torrentBytes(singleInfo({ pieces: Buffer.alloc(80) }, 40 * KiB)), 'EMETAINFO', /holds 4 hashes/);
  });

  test('length and files', () => {
    refused(
      torrentBytes(singleInfo({ files: [{ length: 1, path: ['a'] }] })),
      'EMETAINFO',
      "'info' has both 'length' and 'files': it must be one or the other",
    );
    refused(
      torrentBytes(singleInfo({ length: undefined })),
      'EMETAINFO',
      "'info' has neither 'length' nor 'files'",
    );
    refused(torrentBytes(singleInfo({ length: -1 })), 'EMETAINFO', "'length' is negative (-1)");
    refused(torrentBytes(singleInfo({ length: 'big' })), 'EMETAINFO', "'length' must be an integer");
    refused(torrentBytes(multiInfo([], { files: 'x' })), 'EMETAINFO', "'files' must be a list");
  });

  test('a torrent with no data', () => {
    refused(
      torrentBytes(singleInfo({ pieces: Buffer.alloc(0) }, 0)),
      'EMETAINFO',
      'torrent holds no data: its total length is 0',
    );
    refused(torrentBytes(multiInfo([{ length: 0, path: ['a'] }])), 'EMETAINFO', /total length is 0/);
    const onlyPadding = multiInfo([{ length: 16 * KiB, path: ['.pad', '0'], attr: 'p' }]);
    refused(torrentBytes(onlyPadding), 'EMETAINFO', /only padding files/);
    const emptyBeside = multiInfo([
      { length: 0, path: ['a'] },
      { length: 16 * KiB, path: ['.pad', '0'], attr: 'p' },
    ]);
    refused(torrentBytes(emptyBeside), 'EMETAINFO', /its only bytes are padding/);
  });

  test('files entries', () => {
    refused(
      torrentBytes(multiInfo([])),
      'EMETAINFO',
      "'files' is empty: a torrent must hold at least one file",
    );
    const info = multiInfo([{ length: 20 * KiB, path: ['a'] }]);
    const withFiles = (files: Encodable[]) => torrentBytes({ ...info, files });
    refused(withFiles(['a']), 'EMETAINFO', "file 1 of 1 in 'files' is not a dictionary");
    refused(withFiles([{ path: ['a'] }]), 'EMETAINFO', "file 1 of 1 has no 'length'");
    refused(
      withFiles([{ length: -5, path: ['a'] }]),
      'EMETAINFO',
      "file 1 of 1 has a negative 'length' (-5)",
    );
    refused(withFiles([{ length: 20 * KiB }]), 'EMETAINFO', "file 1 of 1 has no 'path'");
    refused(withFiles([{ length: 20 * KiB, path: 'a' }]), 'EMETAINFO', "'path' must be a list");
    refused(
      withFiles([{ length: 20 * KiB, path: ['a', 1] }]),
      'EMETAINFO',
      /every path component must be a string/,
    );
    refused(withFiles([{ length: 20 * KiB, path: [] }]), 'EUNSAFE_PATH');
    refused(
      withFiles([{ length: 20 * KiB, path: ['..', 'x'] }]),
      'EUNSAFE_PATH',
      /^unsafe path in torrent: \.\.\/x/,
    );
    refused(withFiles([{ length: 20 * KiB, path: ['a', ''] }]), 'EUNSAFE_PATH');
    refused(withFiles([{ length: 20 * KiB, path: ['/etc'] }]), 'EUNSAFE_PATH');
    refused(withFiles([{ length: 20 * KiB, path: ['a\0'] }]), 'EUNSAFE_PATH');
    refused(withFiles([{ length: 20 * KiB, path: ['ok'], 'path.utf-8': ['..'] }]), 'EUNSAFE_PATH');
  });

  test('two files at one path, or a file that is also a folder', () => {
    const two = multiInfo([
      { length: 10 * KiB, path: ['a', 'b'] },
      { length: 10 * KiB, path: ['a', 'b'] },
    ]);
    refused(torrentBytes(two), 'EMETAINFO', 'two files in the torrent use the path a/b');
    const fileThenFolder = multiInfo([
      { length: 10 * KiB, path: ['a'] },
      { length: 10 * KiB, path: ['a', 'b'] },
    ]);
    refused(torrentBytes(fileThenFolder), 'EMETAINFO', 'a is both a file and a folder in the torrent');
    const folderThenFile = multiInfo([
      { length: 10 * KiB, path: ['a', 'b'] },
      { length: 10 * KiB, path: ['a'] },
    ]);
    refused(torrentBytes(folderThenFile), 'EMETAINFO', 'two files in the torrent use the path a');
  });

  test('size limits', () => {
    const bytes = torrentBytes(singleInfo());
    assert.throws(
      () => parseMetainfo(bytes, { maxBytes: bytes.length - 1 }),
      (e: unknown) => e instanceof ChunkswarmError && e.code === 'EMETAINFO_SIZE',
    );
    parseMetainfo(bytes, { maxBytes: bytes.length });

    const files = Array.from({ length: LIMITS.maxFiles + 1 }, (_, i) => ({ length: 1, path: [`f${i}`] }));
    refused(torrentBytes(multiInfo(files)), 'EMETAINFO_SIZE', /more than the limit of 100000/);
  });
});

describe('layoutFromInfo and metainfoFromInfoBytes', () => {
  test('layoutFromInfo checks a bare info dictionary', () => {
    const layout = layoutFromInfo(decode(encode(singleInfo())) as Map<string, never>);
    assert.equal(layout.pieceCount, 3);
    assert.throws(() => layoutFromInfo(new Map()), ChunkswarmError);
  });

  test('metainfoFromInfoBytes (BEP 9 metadata): hash checked, trackers from the magnet', () => {
    const info = encode(singleInfo());
    const m = metainfoFromInfoBytes(info, {
      expectedHash: sha1(info),
      trackers: ['http://a/announce', 'http://b/announce', 'http://a/announce'],
    });
    assert.deepEqual(m.infoHash, sha1(info));
    assert.equal(m.announce, 'http://a/announce');
    assert.deepEqual(m.announceList, [['http://a/announce'], ['http://b/announce']]);
    assert.equal(m.name, 'file.bin');
    assert.throws(
      () => metainfoFromInfoBytes(info, { expectedHash: Buffer.alloc(20) }),
      (e: unknown) =>
        e instanceof ChunkswarmError && e.code === 'EMETAINFO' && /does not match/.test(e.message),
    );
    assert.throws(
      () => metainfoFromInfoBytes(b('i1e')),
      (e: unknown) => e instanceof ChunkswarmError && e.code === 'EMETAINFO',
    );
    assert.throws(
      () => metainfoFromInfoBytes(b('d1:a')),
      (e: unknown) => e instanceof ChunkswarmError && e.code === 'EBENCODE_TRUNCATED',
    );
    assert.deepEqual(metainfoFromInfoBytes(info).announceList, []);
  });
});
