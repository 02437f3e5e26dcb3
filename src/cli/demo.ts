/**
 * `npm start`: a guided tour on loopback that ends by itself. Part 1 runs the seed assignment's slash
 * commands one by one between two shell peers and a seeder; part 2 lets four automatic leechers fetch a
 * multi-file torrent and shows who fed whom. `--lesson NAME` runs one lesson instead (src/lessons/).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { lessonContent as content } from '../lessons/swarm.js';
import { createTorrent } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { Client } from '../session/client.js';
import type { TorrentSession } from '../session/session.js';
import { formatAddress } from '../shared/types.js';
import { Shell } from '../shell/shell.js';
import { ChunkFolderStorage, FileStorage } from '../storage/index.js';
import { createColors, formatBytes, formatDuration } from './format.js';
import { ProgressBoard } from './progress.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.cjs');
const c = createColors(process.stdout.isTTY);
const children: ChildProcess[] = [];

function section(title: string): void {
  console.log(`\n${c.bold(c.cyan(`== ${title} ==`))}`);
}

function note(text: string): void {
  console.log(c.dim(text));
}

/** Starts a chunkswarm command in its own process and resolves with the first line matching `ready`. */
function startProcess(args: string[], ready: RegExp): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    lines.on('line', (line) => {
      if (ready.test(line)) resolve({ child, line });
    });
    child.once('exit', (code) => reject(new Error(`chunkswarm ${args[0]} exited ${code}: ${stderr.trim()}`)));
  });
}

async function shellPeer(name: string, metainfo: Metainfo, dir: string) {
  const client = new Client({ port: 0 });
  const storage = new ChunkFolderStorage(metainfo, dir);
  const have = await storage.verifyExisting({ hasher: client.hasher });
  const { host, port } = await client.listen();
  const session = await client.add({ metainfo }, { storage, have, mode: 'manual' });
  const me = formatAddress(host, port);
  const shell = new Shell({
    session,
    me,
    out: {
      line: (text, kind) =>
        console.log(`   ${kind === 'error' ? c.yellow(text) : kind === 'ok' ? c.green(text) : text}`),
    },
    merge: async (outDir) => {
      const target = join(outDir, metainfo.name);
      await storage.merge(target, { hasher: client.hasher });
      return target;
    },
    chunkFileName: (i) => storage.chunkFileName(i),
    quit: async () => {},
  });
  const run = async (cmd: string): Promise<void> => {
    console.log(`${c.bold(`peer ${name}>`)} ${cmd}`);
    await shell.run(cmd);
  };
  return { client, session, me, run };
}

async function partOne(work: string, announce: string): Promise<boolean> {
  section('Part 1: the seed commands, step by step');
  const original = content(5 * 1024 * 1024 + 12_345, 'lecture');
  const dataPath = join(work, 'seeder', 'lecture.bin');
  await mkdir(dirname(dataPath), { recursive: true });
  await writeFile(dataPath, original);
  const { torrent, metainfo } = await createTorrent({ path: dataPath, trackers: [announce] });
  const torrentPath = join(work, 'lecture.torrent');
  await writeFile(torrentPath, torrent);
  note(
    `made lecture.torrent: ${formatBytes(metainfo.totalLength)} in ${metainfo.pieceCount} chunks of 512 KiB (the last one short), infohash ${metainfo.infoHashHex}`,
  );

  const seeder = await startProcess(['seed', torrentPath, '--data', dataPath, '--port', '0'], /^seeding /);
  note(`a seeder process holds the whole file: ${seeder.line}`);
  const seedAddr = /on ([^ ]+) /.exec(seeder.line)![1]!;

  const a = await shellPeer('A', metainfo, join(work, 'memA'));
  const b = await shellPeer('B', metainfo, join(work, 'memB'));
  note(`two shell peers start with empty memory folders: A on ${a.me}, B on ${b.me}\n`);

  await b.run('/connect_tracker');
  for (const cmd of [
    '/check_tracker_connected',
    '/connect_tracker',
    '/see_peer_set',
    `/connect_peer ${seedAddr}`,
    `/check_target_peer_connected ${seedAddr}`,
    `/request_download ${seedAddr} 0`,
    '/see_current_chunks',
    '/update_status_to_tracker',
    `/merge_chunks ${join(work, 'outA')}`,
    `/request_download ${seedAddr} missing`,
    '/see_connected_seeders',
    `/connect_peer ${b.me}`,
    `/upload_chunk ${b.me} 3`,
    '/see_connected_leechers',
    `/merge_chunks ${join(work, 'outA')}`,
    '/status',
  ]) {
    await a.run(cmd);
  }
  await b.run('/see_current_chunks');
  await a.run(`/disconnect_peer ${b.me}`);
  await a.run('/disconnect_tracker');
  await a.run('/quit_torrent');
  await b.run('/quit_torrent');

  const merged = await readFile(join(work, 'outA', metainfo.name));
  const same = merged.equals(original);
  const sha = (buf: Buffer): string => createHash('sha1').update(buf).digest('hex');
  console.log(
    same
      ? c.green(`\nverified: the merged file is byte-identical to the original (sha1 ${sha(merged)})`)
      : c.red('\nMISMATCH: the merged file differs from the original'),
  );
  await a.client.close({ announce: false });
  await b.client.close({ announce: false });
  seeder.child.kill('SIGTERM');
  return same;
}

async function partTwo(work: string, announce: string): Promise<boolean> {
  section('Part 2: an automatic swarm — one seeder, four leechers');
  const root = join(work, 'course');
  const files: [string, number][] = [
    ['slides.pdf', 3 * 1024 * 1024 + 1],
    ['videos/lecture 1.mp4', 10 * 1024 * 1024 + 777],
    ['notes.txt', 10_240],
  ];
  for (const [rel, size] of files) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), content(size, rel));
  }
  const { torrent, metainfo } = await createTorrent({
    path: root,
    trackers: [announce],
    pieceLength: 256 * 1024,
  });
  const torrentPath = join(work, 'course.torrent');
  await writeFile(torrentPath, torrent);
  note(
    `course.torrent: ${files.length} files, ${formatBytes(metainfo.totalLength)}, ${metainfo.pieceCount} chunks`,
  );
  // The seeder's uplink is capped so the leechers must also feed each other.
  const seeder = await startProcess(
    ['seed', torrentPath, '--data', root, '--port', '0', '--upload-limit', '2MiB'],
    /^seeding /,
  );
  note(`${seeder.line} (upload capped at 2 MiB/s)`);

  const board = new ProgressBoard();
  const leechers: { name: string; client: Client; session: TorrentSession }[] = [];
  for (let i = 1; i <= 4; i++) {
    const client = new Client({ port: 0, uploadLimit: 2 * 1024 * 1024 });
    await client.listen();
    const storage = new FileStorage(metainfo, join(work, `leecher${i}`, metainfo.name));
    const have = await storage.verifyExisting({ hasher: client.hasher });
    const session = await client.add({ metainfo }, { storage, have, mode: 'auto' });
    leechers.push({ name: `leecher ${i} (${client.host}:${client.port})`, client, session });
  }
  const started = Date.now();
  await Promise.all(leechers.map((l) => l.session.connectTracker()));
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (const l of leechers) {
        board.update(l.name, {
          name: l.name.split(' (')[0]!,
          done: metainfo.totalLength - l.session.left,
          total: metainfo.totalLength,
          rate: l.session.down.current,
          upRate: l.session.up.current,
          peers: l.session.peers.size,
        });
      }
      board.plain(
        () => leechers.map((l) => `${l.name}: ${l.session.have.count}/${metainfo.pieceCount} chunks`),
        2000,
      );
      if (leechers.every((l) => l.session.complete)) {
        clearInterval(timer);
        resolve();
      }
    }, 200);
  });
  board.stop();
  const seconds = (Date.now() - started) / 1000;
  console.log(`\nall four leechers complete in ${formatDuration(seconds)}\n`);
  console.log(`${'peer'.padEnd(34)} ${'downloaded'.padStart(12)} ${'uploaded'.padStart(12)}`);
  for (const l of leechers) {
    console.log(
      `${l.name.padEnd(34)} ${formatBytes(l.session.downloaded).padStart(12)} ${formatBytes(l.session.uploaded).padStart(12)}`,
    );
  }
  const fromPeers = leechers.reduce((n, l) => n + l.session.uploaded, 0);
  console.log(
    c.dim(`leechers uploaded ${formatBytes(fromPeers)} to each other: not everything came from the seeder`),
  );

  let ok = true;
  for (const l of leechers) {
    for (const [rel] of files) {
      const got = await readFile(join(work, l.name.split(' (')[0]!.replace(' ', ''), metainfo.name, rel));
      const want = await readFile(join(root, rel));
      if (!got.equals(want)) {
        ok = false;
        console.log(c.red(`MISMATCH: ${l.name} ${rel}`));
      }
    }
  }
  if (ok)
    console.log(
      c.green(
        `verified: every file of every leecher is byte-identical to the original (${leechers.length * files.length} files)`,
      ),
    );
  for (const l of leechers) await l.client.close();
  seeder.child.kill('SIGTERM');
  return ok;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), `chunkswarm-demo-${randomBytes(3).toString('hex')}-`));
  let ok = false;
  try {
    section('chunkswarm demo: a tracker, a seeder and peers on 127.0.0.1');
    const tracker = await startProcess(
      ['tracker', '--port', '0', '--interval', '5'],
      /^tracker listening on /,
    );
    const announce = tracker.line.replace('tracker listening on ', '').trim();
    note(`a tracker process: ${tracker.line}`);
    const one = await partOne(work, announce);
    const two = await partTwo(work, announce);
    ok = one && two;
    section(ok ? 'done: every download verified' : 'done, with errors');
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
  process.exit(ok ? 0 : 1);
}

/** `--lesson NAME` or `--lesson=NAME`; undefined when the tour is wanted. */
function lessonArg(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--lesson') return argv[i + 1] ?? '';
    if (a.startsWith('--lesson=')) return a.slice('--lesson='.length);
  }
  return undefined;
}

async function lessonMain(name: string): Promise<void> {
  const { lessonNames, runLesson } = await import('../lessons/index.js');
  if (!lessonNames().includes(name)) {
    console.error(`demo: no lesson ${JSON.stringify(name)}; try --lesson ${lessonNames().join('|')}`);
    process.exit(2);
  }
  const ok = await runLesson(name, { line: (text) => console.log(text) });
  process.exit(ok ? 0 : 1);
}

const lesson = lessonArg(process.argv.slice(2));
const deadline = setTimeout(
  () => {
    console.error(
      `demo: took longer than ${lesson === undefined ? 'two minutes' : 'ninety seconds'}; stopping`,
    );
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  },
  lesson === undefined ? 120_000 : 90_000,
);
deadline.unref();

(lesson === undefined ? main() : lessonMain(lesson)).catch((err) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
});
