/**
 * How the bench drives the two clients: the built `chunkswarm` command and bench/lt_peer.py
 * (libtorrent). Each function starts a real process in the scenario's ProcessGroup and waits for
 * the line the command-line contract promises (shared picture: docs/ARCHITECTURE.md).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Proc, type ProcessGroup, startReady } from './procs.js';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(BENCH_DIR, '..');
export const LT_PEER = join(BENCH_DIR, 'lt_peer.py');
/** Debian's interpreter: the one that can import python3-libtorrent. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** The `chunkswarm` bin as package.json names it. */
export function chunkswarmBin(projectRoot: string = ROOT): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    bin?: string | Record<string, string>;
  };
  const rel = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.chunkswarm;
  if (!rel) throw new Error('package.json has no "chunkswarm" bin');
  return join(projectRoot, rel);
}

export interface Chunkswarm {
  group: ProcessGroup;
  bin: string;
  /** extra node flags, e.g. --cpu-prof for a profiling round */
  nodeArgs?: string[];
}

/**
 * The node flags the bin's first line gives it (`#!/usr/bin/env -S node FLAGS`), so that a process the
 * bench starts as `node [FLAGS] bin` runs as the bin does from a shell.
 */
export function binNodeFlags(bin: string): string[] {
  const first = readFileSync(bin, 'latin1').split('\n', 1)[0] ?? '';
  const m = /^#!\S*env -S node((?: \S+)*)\s*$/.exec(first);
  return m?.[1] ? m[1].trim().split(' ') : [];
}

function csArgv(cs: Chunkswarm, args: string[]): string[] {
  return [...binNodeFlags(cs.bin), ...(cs.nodeArgs ?? []), cs.bin, ...args];
}

/** Node flags that write a CPU profile of the process into dir when it exits. */
export function cpuProfileFlags(dir: string, name: string): string[] {
  return ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`];
}

export async function startChunkswarm(
  cs: Chunkswarm,
  name: string,
  args: string[],
  timed = false,
): Promise<Proc> {
  return cs.group.start(name, process.execPath, csArgv(cs, args), { timed });
}

export interface RunningTracker {
  proc: Proc;
  announceUrl: string;
  port: number;
}

/** `chunkswarm seed` of `torrent` with its data at `source`, listening on 127.0.0.1:`port`. */
export function seedArgs(torrent: string, source: string, port: number, extra: string[] = []): string[] {
  return ['seed', torrent, '--data', source, '--host', '127.0.0.1', '--port', String(port), ...extra];
}

/** `chunkswarm download` of `torrent` into `out`, listening on 127.0.0.1:`port` (0: any). */
export function downloadArgs(torrent: string, out: string, port: number, extra: string[] = []): string[] {
  return ['download', torrent, '--out', out, '--host', '127.0.0.1', '--port', String(port), ...extra];
}

/** `chunkswarm tracker --port 0`, resolved when it prints where it listens. */
export async function startChunkswarmTracker(cs: Chunkswarm, extra: string[] = []): Promise<RunningTracker> {
  const proc = await startChunkswarm(cs, 'cs-tracker', [
    'tracker',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    ...extra,
  ]);
  const { line } = await proc.waitForLine(/tracker listening on http:\/\/\S+/, 20_000);
  const m = /(http:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)\/announce)/.exec(line);
  if (!m) throw new Error(`chunkswarm tracker printed an address that is not loopback: ${line}`);
  return { proc, announceUrl: m[1] as string, port: Number(m[2]) };
}

/** `chunkswarm create`; returns the infohash from its first line. */
export function chunkswarmCreate(
  bin: string,
  file: string,
  tracker: string,
  out: string,
  pieceLength: number,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      [bin, 'create', file, '--tracker', tracker, '--piece-length', String(pieceLength), '-o', out],
      { timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`chunkswarm create failed: ${stderr.trim().split('\n').pop() ?? err.message}`));
          return;
        }
        const first = stdout.split('\n')[0]?.trim() ?? '';
        if (!/^[0-9a-f]{40}$/.test(first)) {
          reject(new Error(`chunkswarm create did not print an infohash first: "${first}"`));
          return;
        }
        resolvePromise(first);
      },
    );
  });
}

export interface LtPeerOptions {
  torrent: string;
  save: string;
  listenPort: number;
  seed?: boolean;
  /** with seed: libtorrent's super-seeding (torrent_flags.super_seeding, BEP 16) */
  superSeed?: boolean;
  connect?: string[];
  peersFile?: string;
  uploadLimit?: number;
  exitOnFinish?: boolean;
  maxSeconds: number;
  timed?: boolean;
}

/** lt_peer.py, resolved once it prints that it listens (restarted once if it crashes before that). */
export async function startLtPeer(group: ProcessGroup, name: string, o: LtPeerOptions): Promise<Proc> {
  const args = [LT_PEER, '--torrent', o.torrent, '--save', o.save, '--listen', `127.0.0.1:${o.listenPort}`];
  if (o.seed) args.push('--seed');
  if (o.superSeed) args.push('--super-seed');
  for (const c of o.connect ?? []) args.push('--connect', c);
  if (o.peersFile) args.push('--peers-file', o.peersFile);
  if (o.uploadLimit) args.push('--upload-limit', String(o.uploadLimit));
  if (o.exitOnFinish) args.push('--exit-on-finish');
  args.push('--max-seconds', String(o.maxSeconds));
  return startReady(
    (attempt) => group.start(attempt === 1 ? name : `${name}-again`, SYSTEM_PYTHON, args, { timed: o.timed }),
    /"event": "listening"/,
    LT_LISTEN_MS,
  );
}

/** How long lt_peer.py may take to listen: a loaded machine makes libtorrent's start-up slow. */
const LT_LISTEN_MS = 30_000;

/** The JSON object lt_peer.py printed for `event`, or null. */
export function ltEvent(proc: Proc, event: string): Record<string, unknown> | null {
  for (let i = proc.lines.length - 1; i >= 0; i--) {
    const line = proc.lines[i]?.line ?? '';
    if (!line.startsWith('{')) continue;
    try {
      const obj = JSON.parse(line) as Record<string, unknown>;
      if (obj.event === event) return obj;
    } catch {
      // a stray non-JSON line (a warning from the interpreter)
    }
  }
  return null;
}

/** Version strings of the reference tools, for the results file. */
export function libtorrentVersion(): Promise<string | null> {
  return new Promise((res) => {
    execFile(
      SYSTEM_PYTHON,
      ['-c', 'import libtorrent as lt; print(lt.__version__)'],
      { timeout: 20_000 },
      (err, out) => res(err ? null : out.trim()),
    );
  });
}
