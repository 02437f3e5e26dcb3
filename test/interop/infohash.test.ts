/**
 * Infohash agreement with libtorrent (DESIGN.md, "Infohash agreement"): libtorrent computes the
 * infohash chunkswarm prints for every torrent chunkswarm makes; for one file with the same piece
 * length both make the same info dict; and chunkswarm reads the v1 torrents libtorrent makes.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile } from '../integration/harness.js';
import { cs, csCreate, ltInfo, ltMake } from './clients.js';
import { needPackages } from './gate.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TRACKER = 'http://127.0.0.1:6969/announce';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

interface CsInfo {
  name: string;
  infoHash: string;
  size: number;
  pieceLength: number;
  pieces: number;
  files: { index: number; path: string; length: number; chunks: [number, number] | null }[];
  trackers: string[][];
}

async function csInfo(torrent: string): Promise<CsInfo> {
  const r = await cs(['info', torrent, '--json']);
  assert.equal(r.code, 0, `chunkswarm info --json ${torrent} failed:\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as CsInfo;
}

const pathsAndLengths = (info: CsInfo) => info.files.map((f) => ({ path: f.path, length: f.length }));

/** A folder whose names test the ordering rules and odd-but-harmless names. */
async function makeCourse(root: string): Promise<void> {
  await makeFile(join(root, 'slides.pdf'), 300 * KiB + 1, 'slides');
  await makeFile(join(root, 'videos', 'lecture 1.mp4'), 700 * KiB + 777, 'lecture 1');
  await makeFile(join(root, 'videos', 'lecture 2.mp4'), 40 * KiB, 'lecture 2');
  await makeFile(join(root, 'vidéos', 'résumé ü 東京.txt'), 5 * KiB + 3, 'non-ascii');
  // 'a/…' must sort before 'a-b' component by component, though '/' > '-' as joined strings.
  await makeFile(join(root, 'a', 'b', 'c', 'deep.bin'), 20 * KiB, 'deep');
  await makeFile(join(root, 'a-b.bin'), 17 * KiB, 'a-b');
  await makeFile(join(root, 'Zeta.bin'), 3 * KiB, 'zeta');
  await mkdir(join(root, 'empty dir holder'), { recursive: true });
  await writeFile(join(root, 'empty dir holder', 'empty.txt'), '');
  await writeFile(join(root, 'zero.bin'), '');
}

test('one file: chunkswarm and libtorrent make the same info dict at every piece length from 16 KiB to 4 MiB', {
  timeout: 120_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const file = join(h.dir, 'single', 'lecture 1 – é ü 東京.bin');
  await makeFile(file, 4 * MiB + 4321, 'single file');
  const pieceLengths: number[] = [];
  for (let p = 16 * KiB; p <= 4 * MiB; p *= 2) pieceLengths.push(p);
  // Each piece length is independent: run them side by side to keep the file quick.
  await Promise.all(
    pieceLengths.map(async (pieceLength) => {
      const ours = join(h.dir, `single-cs-${pieceLength}.torrent`);
      const theirs = join(h.dir, `single-lt-${pieceLength}.torrent`);
      const [printed, ltMade] = await Promise.all([
        csCreate(file, ours, { trackers: [TRACKER], pieceLength }),
        ltMake(file, theirs, { pieceLength, trackers: [TRACKER] }),
      ]);
      const ltReadsOurs = await ltInfo(ours);
      assert.equal(
        ltReadsOurs.infoHash,
        printed,
        `piece length ${pieceLength}: libtorrent reads another infohash`,
      );
      // Same infohash means the same bencoded info dict: the comparison is byte for byte.
      assert.equal(
        ltMade,
        printed,
        `piece length ${pieceLength}: libtorrent's own info dict differs from ours\n` +
          `ours:   ${JSON.stringify(ltReadsOurs)}\ntheirs: ${JSON.stringify(await ltInfo(theirs))}`,
      );
      assert.equal(ltReadsOurs.pieces, Math.ceil((4 * MiB + 4321) / pieceLength));
    }),
  );
});

test('nested folders, spaces, non-ASCII names and empty files: libtorrent reads our infohash and file list', {
  timeout: 60_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const root = join(h.dir, 'course material');
  await makeCourse(root);
  for (const pieceLength of [16 * KiB, 256 * KiB, 4 * MiB]) {
    const ours = join(h.dir, `course-cs-${pieceLength}.torrent`);
    const printed = await csCreate(root, ours, { trackers: [TRACKER], pieceLength });
    const lt = await ltInfo(ours);
    assert.equal(lt.infoHash, printed, `piece length ${pieceLength}: libtorrent computes another infohash`);
    const info = await csInfo(ours);
    assert.equal(info.infoHash, printed);
    assert.equal(info.name, 'course material');
    assert.equal(lt.name, info.name);
    assert.equal(info.pieces, lt.pieces);
    assert.equal(info.size, lt.size);
    // The same files in the same order: the byte order chunkswarm sorts by, with both empty files.
    assert.deepEqual(
      lt.files.map((f) => ({ path: f.path.slice(`${lt.name}/`.length), length: f.length })),
      pathsAndLengths(info),
    );
    assert.deepEqual(
      info.files.map((f) => f.index),
      info.files.map((_, i) => i),
    );
    assert.deepEqual(
      info.files.map((f) => f.path),
      [
        'Zeta.bin',
        'a/b/c/deep.bin',
        'a-b.bin',
        'empty dir holder/empty.txt',
        'slides.pdf',
        'videos/lecture 1.mp4',
        'videos/lecture 2.mp4',
        'vidéos/résumé ü 東京.txt',
        'zero.bin',
      ],
    );
    // libtorrent given the files in that same order makes the very same info dict.
    const sorted = await ltMake(root, join(h.dir, `course-lt-${pieceLength}.torrent`), {
      pieceLength,
      sorted: true,
    });
    assert.equal(
      sorted,
      printed,
      `piece length ${pieceLength}: libtorrent's info dict for our file order differs`,
    );
  }
});

test('chunkswarm info --json reads the v1 torrents libtorrent makes, with libtorrent’s infohash', {
  timeout: 60_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const root = join(h.dir, 'lt made');
  await makeCourse(root);
  const single = join(h.dir, 'lt single.iso');
  await makeFile(single, 3 * MiB + 17, 'lt single');
  const cases = [
    { src: root, pieceLength: 32 * KiB },
    { src: root, pieceLength: 1 * MiB },
    { src: single, pieceLength: 256 * KiB },
  ];
  for (const [i, c] of cases.entries()) {
    const torrent = join(h.dir, `lt-${i}.torrent`);
    // Folder in libtorrent's own (directory listing) order: chunkswarm must read it as it is.
    const made = await ltMake(c.src, torrent, {
      pieceLength: c.pieceLength,
      trackers: [TRACKER, 'http://127.0.0.1:6970/announce'],
    });
    const lt = await ltInfo(torrent);
    const info = await csInfo(torrent);
    assert.equal(info.infoHash, made, `${c.src}: chunkswarm reads another infohash than libtorrent made`);
    assert.equal(info.name, lt.name);
    assert.equal(info.pieceLength, c.pieceLength);
    assert.equal(info.pieces, lt.pieces);
    assert.equal(info.size, lt.size);
    const ltFiles =
      lt.files.length === 1 && lt.files[0]!.path === lt.name
        ? [{ path: lt.name, length: lt.files[0]!.length }]
        : lt.files.map((f) => ({ path: f.path.slice(`${lt.name}/`.length), length: f.length }));
    assert.deepEqual(pathsAndLengths(info), ltFiles);
    // libtorrent shuffles trackers within a tier when it loads a torrent (BEP 12), so compare sets.
    assert.deepEqual(info.trackers.flat().sort(), [...lt.trackers].sort());
  }
});

test('a libtorrent torrent with BEP 47 pad files, or hybrid v1+v2, keeps its v1 infohash in chunkswarm info', {
  timeout: 30_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const root = join(h.dir, 'padded');
  await makeCourse(root);
  const torrent = join(h.dir, 'padded.torrent');
  const hybrid = join(h.dir, 'hybrid.torrent');
  for (const [path, opts] of [
    [torrent, { canonical: true }],
    // libtorrent's default: v1 and v2 in one info dict, with pad files; we read its v1 half.
    [hybrid, { hybrid: true }],
  ] as const) {
    const made = await ltMake(root, path, { pieceLength: 16 * KiB, trackers: [TRACKER], ...opts });
    const lt = await ltInfo(path);
    const info = await csInfo(path);
    assert.equal(info.infoHash, made, `${path}: chunkswarm reads another infohash`);
    assert.equal(info.pieces, lt.pieces);
    // libtorrent counts pad bytes in the total: pieces are laid over them, so must we.
    assert.equal(info.size, lt.size);
  }
});
