/**
 * Crash-safe resume (issue 7): a `download` killed with SIGKILL at random moments continues, when started
 * again, from exactly the chunks that were verified on disk, and ends byte-identical. A full disk or an
 * unwritable target stops it with one error line and exit 1, keeping what was verified for a later run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Metainfo } from '../../src/metainfo/types.js';
import { Harness, makeFile, sameBytes } from '../integration/harness.js';
import { type CliProc, createTorrent, cs, startSeed, startTracker } from './cli.js';
import { loadMetainfo, verifiedPieces } from './scripted-peer.js';

const h = new Harness();
let announce = '';

before(async () => {
  await h.setup();
  announce = await startTracker(h);
});
after(() => h.teardown());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function onDisk(m: Metainfo, path: string): Promise<number> {
  const bytes = await readFile(path).catch(() => Buffer.alloc(0));
  return verifiedPieces(m, bytes);
}

/** The `resuming: N of M` count a run printed, or 0 when it printed none. */
async function resumed(p: CliProc, m: Metainfo, expected: number): Promise<void> {
  if (expected === 0) return;
  const line = await p.waitFor(/^resuming: (\d+) of (\d+) chunks already verified/m, 30_000);
  assert.equal(
    Number(line[1]),
    expected,
    `resumed from ${line[1]} chunks, but ${expected} were verified on disk`,
  );
  assert.equal(Number(line[2]), m.pieceCount);
}

test('SIGKILL at random moments, restarted each time: resumes from the verified chunks, ends byte-identical', async (t) => {
  const source = join(h.dir, 'kill', 'recording.bin');
  await makeFile(source, 6 * 1024 * 1024 + 77, 'resume-kill');
  const torrent = join(h.dir, 'kill', 'recording.torrent');
  await createTorrent(h, source, announce, torrent);
  const m = await loadMetainfo(torrent);
  // Rate-limited so a download takes seconds and the kills land in the middle of it.
  await startSeed(h, torrent, source, ['--upload-limit', '1MiB']);

  const out = join(h.dir, 'kill', 'out');
  const target = join(out, 'recording.bin');
  const args = ['download', torrent, '--out', out, '--port', '0'];
  const log: string[] = [];
  let verified = 0;
  let kills = 0;
  // Up to eight runs, each killed: half after a random pause from the start (possibly mid-verification),
  // half a random pause after it is listening (mid-transfer). Stop early once the file is nearly whole.
  for (let round = 0; round < 8 && verified < m.pieceCount - 8; round++) {
    const p = cs(h, args);
    let pause: number;
    if (round % 2 === 0) {
      pause = Math.floor(Math.random() * 1200);
    } else {
      await resumed(p, m, verified);
      await p.waitFor(/^listening on /m);
      pause = 200 + Math.floor(Math.random() * 1300);
    }
    await sleep(pause);
    if (p.child.exitCode !== null) {
      // It finished before the kill: nothing left to prove with it, but the last run resumes from what it left.
      await p.exited();
      verified = await onDisk(m, target);
      break;
    }
    p.child.kill('SIGKILL');
    await p.exited();
    kills++;
    const now = await onDisk(m, target);
    log.push(
      `run ${round + 1}: killed after ${pause} ms (${round % 2 ? 'after listening' : 'from start'}), ${now} of ${m.pieceCount} verified on disk`,
    );
    assert.ok(now >= verified, `a kill lost verified chunks: ${verified} before, ${now} after`);
    verified = now;
  }
  t.diagnostic(log.join('; '));

  const last = cs(h, args);
  await resumed(last, m, verified);
  assert.equal(await last.exited(60_000), 0, last.output());
  assert.match(last.output(), /^complete recording\.bin /m);
  assert.ok(await sameBytes(source, target), 'the resumed download differs from the data');
  // It fetched what was missing, not the whole file again (plus blocks a slow endgame may fetch twice).
  const totals = /^totals recording\.bin: downloaded (\d+) B/m.exec(last.output());
  assert.ok(totals, last.output());
  const missing = m.totalLength - verified * m.pieceLength;
  assert.ok(
    Number(totals[1]) <= missing + 1024 * 1024,
    `downloaded ${totals[1]} B to fill ${missing} missing bytes`,
  );
  t.diagnostic(
    `${kills} kills; the last run resumed from ${verified} of ${m.pieceCount} chunks and downloaded ${totals[1]} B`,
  );
});

test('a full disk: one error line, exit 1, the verified chunks kept; a later run with space resumes', async (t) => {
  const mount = await mkdtemp(join(tmpdir(), 'chunkswarm-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount], { stdio: 'ignore' });
  } catch {
    await rm(mount, { recursive: true, force: true });
    t.skip('cannot mount a 2 MiB tmpfs here (needs root and mount rights): full-disk case not run');
    return;
  }
  try {
    const source = join(h.dir, 'full', 'big.bin');
    await makeFile(source, 4 * 1024 * 1024 + 3, 'resume-full');
    const torrent = join(h.dir, 'full', 'big.torrent');
    await createTorrent(h, source, announce, torrent);
    const m = await loadMetainfo(torrent);
    await startSeed(h, torrent, source);

    const first = cs(h, ['download', torrent, '--out', mount, '--port', '0']);
    assert.equal(await first.exited(60_000), 1, first.output());
    const lines = first
      .stderr()
      .split('\n')
      .filter((l) => l.length > 0);
    assert.equal(lines.length, 1, `expected one line on stderr, got:\n${first.stderr()}`);
    assert.match(
      lines[0]!,
      /^chunkswarm: big\.bin: cannot store chunk \d+: .*no space left on device \(ENOSPC\)$/,
    );
    // It said so at the start, before fetching anything.
    assert.match(
      first.output(),
      /^warning: big\.bin needs 4\.0 MiB more and \S+ has 2\.0 MiB free: the download stops when the disk is full/m,
    );
    const kept = await onDisk(m, join(mount, 'big.bin'));
    assert.ok(kept > 0 && kept < m.pieceCount, `${kept} of ${m.pieceCount} chunks kept`);

    // More room, same command: it picks up from what was verified.
    execFileSync('mount', ['-o', 'remount,size=16m', mount], { stdio: 'ignore' });
    const second = cs(h, ['download', torrent, '--out', mount, '--port', '0']);
    await resumed(second, m, kept);
    assert.equal(await second.exited(60_000), 0, second.output());
    assert.ok(await sameBytes(source, join(mount, 'big.bin')));
    t.diagnostic(
      `disk full after ${kept} of ${m.pieceCount} chunks; the second run resumed from them and completed`,
    );
  } finally {
    // Processes that still hold files there would make umount fail: they have exited (or the harness kills them).
    try {
      execFileSync('umount', [mount], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    }
    await rm(mount, { recursive: true, force: true });
  }
});

test('an unwritable target: one error line, exit 1, nothing created', async () => {
  const source = join(h.dir, 'ro', 'small.bin');
  await makeFile(source, 300 * 1024, 'resume-ro');
  const torrent = join(h.dir, 'ro', 'small.torrent');
  await createTorrent(h, source, announce, torrent);
  await startSeed(h, torrent, source);

  // --out below a regular file.
  const file = join(h.dir, 'ro', 'a-file');
  await writeFile(file, 'not a folder');
  const below = cs(h, ['download', torrent, '--out', join(file, 'sub'), '--port', '0']);
  assert.equal(await below.exited(30_000), 1, below.output());
  const lines = below
    .stderr()
    .split('\n')
    .filter((l) => l.length > 0);
  assert.equal(lines.length, 1, below.stderr());
  assert.match(lines[0]!, /^chunkswarm: .*a-file\/sub.*ENOTDIR/);
  assert.equal(await readFile(file, 'utf8'), 'not a folder');

  // The torrent's file name taken by a folder: the first chunk cannot be stored.
  const out = join(h.dir, 'ro', 'out');
  await mkdir(join(out, 'small.bin'), { recursive: true });
  const taken = cs(h, ['download', torrent, '--out', out, '--port', '0']);
  assert.equal(await taken.exited(30_000), 1, taken.output());
  const takenLines = taken
    .stderr()
    .split('\n')
    .filter((l) => l.length > 0);
  assert.equal(takenLines.length, 1, taken.stderr());
  assert.match(
    takenLines[0]!,
    /^chunkswarm: small\.bin: cannot store chunk \d+: .*small\.bin.*\((EISDIR|EEXIST)\)$/,
  );
});
