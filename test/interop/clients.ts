/**
 * Drivers for the foreign clients (libtorrent through lt_peer.py, aria2c) and small checks the
 * interop tests share. Every process goes through the Harness, so teardown stops it by PID.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, dictGet, isDict } from '../../src/codec/index.js';
import type { DhtNode } from '../../src/dht/node.js';
import { BIN, type Harness, type Proc } from '../integration/harness.js';
import { PYTHON } from './gate.js';

export const LT_PEER = join(dirname(fileURLToPath(import.meta.url)), 'lt_peer.py');
export const LT_DHT = join(dirname(fileURLToPath(import.meta.url)), 'lt_dht.py');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A short command to completion, killed after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `chunkswarm ...` to completion. */
export function cs(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], timeoutMs);
}

/** `chunkswarm create`; returns the infohash it prints on its first line. */
export async function csCreate(
  path: string,
  out: string,
  opts: { trackers: string[]; pieceLength?: number; noTracker?: boolean },
): Promise<string> {
  const args = ['create', path, '-o', out];
  for (const t of opts.trackers) args.push('--tracker', t);
  if (opts.noTracker) args.push('--no-tracker');
  if (opts.pieceLength) args.push('--piece-length', String(opts.pieceLength));
  const r = await cs(args);
  assert.equal(r.code, 0, `chunkswarm create ${path} failed:\n${r.stdout}${r.stderr}`);
  const first = r.stdout.split('\n')[0] ?? '';
  assert.match(first, /^[0-9a-f]{40}$/, `create printed no infohash on its first line:\n${r.stdout}`);
  return first;
}

/**
 * libtorrent makes a torrent (v1 only unless `hybrid`) and returns its v1 infohash; `sorted` adds a
 * folder's files in chunkswarm's order.
 */
export async function ltMake(
  src: string,
  out: string,
  opts: { pieceLength: number; trackers?: string[]; sorted?: boolean; canonical?: boolean; hybrid?: boolean },
): Promise<string> {
  const args = [LT_PEER, 'make', src, out, '--piece-length', String(opts.pieceLength)];
  for (const t of opts.trackers ?? []) args.push('--tracker', t);
  if (opts.sorted) args.push('--sorted');
  if (opts.canonical) args.push('--canonical');
  if (opts.hybrid) args.push('--hybrid');
  const r = await run(PYTHON, args);
  assert.equal(r.code, 0, `libtorrent could not make a torrent of ${src}:\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

export interface LtInfo {
  infoHash: string;
  name: string;
  size: number;
  pieceLength: number;
  pieces: number;
  /** Paths start with the torrent's name, as libtorrent's file_storage has them; pad files left out. */
  files: { path: string; length: number }[];
  trackers: string[];
}

/** How libtorrent reads a .torrent. */
export async function ltInfo(torrent: string): Promise<LtInfo> {
  const r = await run(PYTHON, [LT_PEER, 'info', torrent]);
  assert.equal(r.code, 0, `libtorrent could not read ${torrent}:\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as LtInfo;
}

export interface LtResult {
  role: 'seed' | 'leech';
  total: number;
  done: number;
  finished: boolean;
  payloadUp: number;
  payloadDown: number;
  error: string | null;
  timedOut: boolean;
}

export interface LtPeer {
  proc: Proc;
  port: number;
  /** `ip:port` libtorrent listens on. */
  address: string;
  /** Waits for the process to end (SIGTERM it first for a seed) and reads its `result` line. */
  result(timeoutMs?: number): Promise<LtResult>;
}

/** A libtorrent seed or leech in its own process on loopback; resolves once peers may connect to it. */
export async function startLt(
  h: Harness,
  role: 'seed' | 'leech',
  opts: {
    torrent: string;
    save: string;
    connect?: string[];
    uploadLimit?: number;
    maxSeconds?: number;
    /** A partial seed: it checks its data and holds (and wants) only the first N pieces. */
    havePieces?: number;
  },
): Promise<LtPeer> {
  const args = [LT_PEER, role, '--torrent', opts.torrent, '--save', opts.save, '--listen', '127.0.0.1:0'];
  for (const c of opts.connect ?? []) args.push('--connect', c);
  if (opts.uploadLimit) args.push('--upload-limit', String(opts.uploadLimit));
  if (opts.havePieces !== undefined) args.push('--have-pieces', String(opts.havePieces));
  args.push('--max-seconds', String(opts.maxSeconds ?? 60));
  const proc = h.spawn(PYTHON, args);
  const m = await proc.waitFor(/^listening (\S+):(\d+)$/m);
  await proc.waitFor(/^ready$/m);
  const port = Number(m[2]);
  return {
    proc,
    port,
    address: `127.0.0.1:${port}`,
    async result(timeoutMs = 60_000) {
      await proc.exited(timeoutMs);
      const line = /^result (.*)$/m.exec(proc.output());
      assert.ok(line, `libtorrent ${role} printed no result:\n${proc.output()}`);
      return JSON.parse(line[1]!) as LtResult;
    },
  };
}

/**
 * A libtorrent seeder with its DHT on (lt_dht.py seed), joined through `nodes` (`ip:port`) and
 * announcing the torrent there; resolves with the `ip:port` it listens on once it is up.
 */
export async function startLtDhtSeed(
  h: Harness,
  opts: { torrent: string; save: string; nodes: string[]; maxSeconds: number },
): Promise<{ proc: Proc; address: string }> {
  const proc = h.spawn(PYTHON, [
    LT_DHT,
    'seed',
    '--torrent',
    opts.torrent,
    '--save',
    opts.save,
    ...opts.nodes.flatMap((n) => ['--node', n]),
    '--max-seconds',
    String(opts.maxSeconds),
  ]);
  const m = await proc.waitFor(/listening (127\.0\.0\.1:\d+)/);
  return { proc, address: m[1]! };
}

/**
 * Asks the DHT through `node` for the peers of `infoHash` once a second until `want` (`ip:port`) is
 * among them or `timeoutMs` is up; returns every peer seen, for the caller to assert on.
 */
export async function dhtPeersUntil(
  node: DhtNode,
  infoHash: Buffer,
  want: string,
  timeoutMs: number,
): Promise<Set<string>> {
  const found = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  while (!found.has(want) && Date.now() < deadline) {
    const r = await node.getPeers(infoHash);
    for (const p of r.peers) found.add(`${p.host}:${p.port}`);
    if (!found.has(want)) await new Promise((r) => setTimeout(r, 1000));
  }
  return found;
}

/** aria2c options that keep it on loopback, finite and quiet (see the aria2 notes in docs/PROTOCOL.md). */
export function aria2Args(opts: {
  dir: string;
  port: number;
  torrent: string;
  seedMinutes?: number;
}): string[] {
  return [
    `--seed-time=${opts.seedMinutes ?? 0}`,
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--file-allocation=none',
    '--interface=127.0.0.1',
    `--listen-port=${opts.port}`,
    '--summary-interval=0',
    '--console-log-level=notice',
    '--check-certificate=false',
    '--auto-save-interval=0',
    '--bt-save-metadata=false',
    '--rpc-save-upload-metadata=false',
    '--save-session-interval=0',
    `--stop-with-process=${process.pid}`,
    '-d',
    opts.dir,
    opts.torrent,
  ];
}

/** aria2 keeps retrying a tracker that refuses it; its log line says why, so a test can stop there. */
export function aria2TrackerFailure(output: string): string | undefined {
  return /Tracker returned failure reason: [^\n]*/.exec(output)?.[0];
}

/** Every regular file below `root`, as paths relative to it with '/' separators, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile()) out.push(relative(root, p).split('\\').join('/'));
    }
  };
  await visit(root);
  return out.sort();
}

/** Asserts that every file under `expected` is in `actual` with the same bytes (byte for byte). */
export async function assertSameTree(expected: string, actual: string, who: string): Promise<void> {
  const files = await listFiles(expected);
  assert.ok(files.length > 0, `nothing to compare under ${expected}`);
  for (const f of files) {
    const theirs = await readFile(join(actual, f)).catch(() => null);
    assert.ok(theirs, `${who}: ${f} is missing under ${actual}`);
    const ours = await readFile(join(expected, f));
    assert.equal(
      theirs.length,
      ours.length,
      `${who}: ${f} has ${theirs.length} bytes, expected ${ours.length}`,
    );
    assert.ok(theirs.equals(ours), `${who}: ${f} differs from the original`);
  }
}

/** Scrape one infohash on a tracker (BEP 48): its complete/incomplete counts. */
export async function scrape(
  announceUrl: string,
  infoHashHex: string,
): Promise<{ complete: number; incomplete: number }> {
  const url = `${announceUrl.replace(/\/announce$/, '/scrape')}?info_hash=${percentBytes(Buffer.from(infoHashHex, 'hex'))}`;
  const res = await fetch(url);
  const body = decode(new Uint8Array(await res.arrayBuffer()));
  const files = isDict(body) ? dictGet(body, 'files') : undefined;
  const entry = isDict(files) ? [...files.values()][0] : undefined;
  if (!isDict(entry)) return { complete: 0, incomplete: 0 };
  const num = (k: string): number => {
    const v = dictGet(entry, k);
    return typeof v === 'number' ? v : 0;
  };
  return { complete: num('complete'), incomplete: num('incomplete') };
}

export function percentBytes(b: Uint8Array): string {
  return [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');
}

/** Polls `check` every 200 ms until it is true; fails with `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) assert.fail(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
