/**
 * Figure 2, swarm efficiency: one seeder and N leechers, every process's upload capped at U. With
 * the seeder alone able to push U, no schedule can finish before T_min = F / U (every byte has to
 * leave the seeder once); efficiency = T_min / T, where T runs from the moment the seeder listens
 * until the last leecher holds the whole file. The leechers start first and keep seeding after they
 * finish, so the swarm can spread pieces among itself while the seeder is still sending.
 *
 * chunkswarm's peers meet through a chunkswarm tracker (announce interval 5 s). libtorrent's
 * leechers dial each other from a peers file and its seeder dials them all, so its figure does not
 * depend on our tracker.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  chunkswarmCreate,
  cpuProfileFlags,
  ltEvent,
  startChunkswarm,
  startChunkswarmTracker,
  startLtPeer,
} from '../lib/clients.js';
import { type FigureResult, fmt, type ScenarioContext, verdict } from '../lib/context.js';
import { makeSource, sha1File } from '../lib/datafile.js';
import { freePort, type Proc, sleep, waitListening } from '../lib/procs.js';
import { ratio, round } from '../lib/stats.js';

const PIECE = 1 << 20;
const TARGET = 0.9;

export interface SwarmRun {
  /** seconds from the seeder listening to the last leecher's completion */
  seconds: number;
  efficiency: number;
  /** each leecher's completion, seconds after the seeder listened */
  leecherSeconds: number[];
  /** CPU seconds of all processes of the swarm, summed */
  totalCpuSeconds: number | null;
  traffic: SwarmTraffic;
}

/** Who sent what: explains an efficiency figure (is the seeder resending, are leechers idle?). */
export interface SwarmTraffic {
  /** payload bytes each leecher uploaded, as the client reported at exit */
  leecherUpBytes: (number | null)[];
  /** payload bytes all leechers received, duplicates included */
  leecherDownBytes: number | null;
  /**
   * (received by leechers - sent by leechers) / file size: copies of the file that came from the
   * seeder. 1.0 is ideal: the seeder sends each piece once and the leechers spread it.
   */
  seederCopies: number | null;
}

export function swarmTraffic(
  up: (number | null)[],
  down: (number | null)[],
  fileBytes: number,
): SwarmTraffic {
  const all = (xs: (number | null)[]) => (xs.every((x) => typeof x === 'number') ? (xs as number[]) : null);
  const ups = all(up);
  const downs = all(down);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const leecherDownBytes = downs ? sum(downs) : null;
  return {
    leecherUpBytes: up,
    leecherDownBytes,
    seederCopies: ups && leecherDownBytes !== null ? (leecherDownBytes - sum(ups)) / fileBytes : null,
  };
}

/** The `totals NAME: downloaded N B, uploaded N B, ...` line `chunkswarm download` prints as it stops. */
export function parseTotals(lines: readonly string[]): { down: number; up: number } | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^totals .*: downloaded (\d+) B, uploaded (\d+) B/.exec(lines[i] ?? '');
    if (m) return { down: Number(m[1]), up: Number(m[2]) };
  }
  return null;
}

interface Shape {
  ctx: ScenarioContext;
  source: string;
  sourceSha1: string;
  torrent: string;
  size: number;
  uplink: number;
  tMin: number;
  capMs: number;
}

export async function runSwarm(ctx: ScenarioContext): Promise<FigureResult> {
  const { opts, dir, log } = ctx;
  const size = opts.swarmMiB * 1024 * 1024;
  const uplink = opts.uplinkMiB * 1024 * 1024;
  log(`swarm: writing ${opts.swarmMiB} MiB of test data`);
  const { path: source, sha1: sourceSha1 } = makeSource(dir, 'swarm.bin', size, 21);
  const tracker = await startChunkswarmTracker({ group: ctx.group, bin: ctx.bin }, ['--interval', '5']);
  const torrent = join(dir, 'swarm.torrent');
  await chunkswarmCreate(ctx.bin, source, tracker.announceUrl, torrent, PIECE);
  const tMin = size / uplink;
  const shape: Shape = {
    ctx,
    source,
    sourceSha1,
    torrent,
    size,
    uplink,
    tMin,
    // a run slower than efficiency 0.1 is broken, not slow
    capMs: tMin * 10 * 1000 + 30_000,
  };

  log(`swarm: libtorrent, 1 seeder + ${opts.leechers} leechers, ${opts.uplinkMiB} MiB/s uplinks`);
  const lt = await libtorrentSwarm(shape);
  log(
    `swarm libtorrent: last leecher done after ${fmt(lt.seconds, 1)} s, efficiency ${fmt(lt.efficiency, 2)}`,
  );
  log(`swarm: chunkswarm, 1 seeder + ${opts.leechers} leechers, ${opts.uplinkMiB} MiB/s uplinks`);
  const cs = await chunkswarmSwarm(shape, null);
  log(
    `swarm chunkswarm: last leecher done after ${fmt(cs.seconds, 1)} s, efficiency ${fmt(cs.efficiency, 2)}`,
  );
  let profiles: string | null = null;
  if (ctx.profileDir) {
    profiles = join(ctx.profileDir, 'swarm');
    log('swarm: one more chunkswarm run with --cpu-prof (not counted)');
    await chunkswarmSwarm(shape, profiles);
  }
  await tracker.proc.stop();

  // Finishing faster than T_min means some cap did not hold, and the efficiency means nothing.
  const capsHeld = (r: SwarmRun) => r.seconds >= tMin * 0.95;
  const rows = [
    {
      figure: `swarm 1+${opts.leechers}, ${opts.swarmMiB} MiB, last leecher done, s`,
      chunkswarm: fmt(cs.seconds, 1),
      reference: fmt(lt.seconds, 1),
      ratio: '',
      target: `T_min ${fmt(tMin, 1)} s`,
      verdict: '',
    },
    {
      figure: 'swarm efficiency (T_min / T)',
      chunkswarm: fmt(cs.efficiency, 2) + (capsHeld(cs) ? '' : ' (caps broke)'),
      reference: fmt(lt.efficiency, 2) + (capsHeld(lt) ? '' : ' (caps broke)'),
      ratio: fmt(ratio(cs.efficiency, lt.efficiency), 2, 'x'),
      target: `>= ${TARGET.toFixed(2)}`,
      verdict: verdict(capsHeld(cs) && cs.efficiency >= TARGET),
    },
    {
      figure: 'swarm copies of the file the seeder sent',
      chunkswarm: fmt(cs.traffic.seederCopies, 2),
      reference: fmt(lt.traffic.seederCopies, 2),
      ratio: '',
      target: 'ideal 1.00',
      verdict: '',
    },
    {
      figure: 'swarm leecher uploads, MB (min-max)',
      chunkswarm: spread(cs.traffic.leecherUpBytes),
      reference: spread(lt.traffic.leecherUpBytes),
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      figure: 'swarm CPU of all processes, s',
      chunkswarm: fmt(cs.totalCpuSeconds, 1),
      reference: fmt(lt.totalCpuSeconds, 1),
      ratio: fmt(ratio(cs.totalCpuSeconds, lt.totalCpuSeconds), 2, 'x'),
      target: '',
      verdict: '',
    },
  ];
  const clean = (r: SwarmRun) => ({
    seconds: round(r.seconds),
    efficiency: round(r.efficiency),
    capsHeld: capsHeld(r),
    leecherSeconds: r.leecherSeconds.map((x) => round(x)),
    totalCpuSeconds: round(r.totalCpuSeconds),
    leecherUpBytes: r.traffic.leecherUpBytes,
    leecherDownBytes: r.traffic.leecherDownBytes,
    seederCopies: round(r.traffic.seederCopies),
  });
  return {
    rows,
    data: {
      sizeBytes: size,
      pieceLength: PIECE,
      leechers: opts.leechers,
      uplinkBytesPerSecond: uplink,
      tMinSeconds: tMin,
      chunkswarm: clean(cs),
      libtorrent: clean(lt),
      target: TARGET,
      profiles,
    },
  };
}

function spread(bytes: (number | null)[]): string {
  const xs = bytes.filter((b): b is number => typeof b === 'number').map((b) => b / 1e6);
  if (xs.length === 0) return '-';
  return `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;
}

function totalCpu(procs: Proc[]): number | null {
  let sum = 0;
  for (const p of procs) {
    const c = p.cpuSeconds();
    if (c === null) return null;
    sum += c;
  }
  return sum;
}

function verifyAll(s: Shape, dirs: string[], who: string): void {
  dirs.forEach((d, i) => {
    if (sha1File(join(d, basename(s.source))) !== s.sourceSha1)
      throw new Error(`${who} leecher ${i + 1} wrote a file that differs from the source`);
  });
}

async function chunkswarmSwarm(s: Shape, profileDir: string | null): Promise<SwarmRun> {
  const { ctx } = s;
  const n = ctx.opts.leechers;
  const run = `cs-swarm-${profileDir ? 'prof' : 'run'}`;
  const limit = String(s.uplink);
  const nodeArgs = (role: string) => (profileDir ? cpuProfileFlags(profileDir, role) : []);
  const leechers: Proc[] = [];
  const dirs: string[] = [];
  const procs: Proc[] = [];
  // set at the end of the try block; when that block throws, nothing after `finally` runs
  let measured: Omit<SwarmRun, 'traffic'> | undefined;
  try {
    for (let i = 1; i <= n; i++) {
      const port = await freePort();
      const out = join(ctx.dir, run, `l${i}`);
      dirs.push(out);
      const args = [
        'download',
        s.torrent,
        '--out',
        out,
        '--seed',
        '--upload-limit',
        limit,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ];
      // profile one leecher only: more would cost CPU the others need
      const p = await startChunkswarm(
        { group: ctx.group, bin: ctx.bin, nodeArgs: i === 1 ? nodeArgs('leecher1') : [] },
        `${run}-l${i}`,
        args,
      );
      leechers.push(p);
      procs.push(p);
      await waitListening(port, 30_000);
    }
    // give every leecher time to announce and meet the others before the seeder appears
    await sleep(2000);
    const seedPort = await freePort();
    const seeder = await startChunkswarm(
      { group: ctx.group, bin: ctx.bin, nodeArgs: nodeArgs('seeder') },
      `${run}-seed`,
      [
        'seed',
        s.torrent,
        '--data',
        s.source,
        '--host',
        '127.0.0.1',
        '--port',
        String(seedPort),
        '--upload-limit',
        limit,
      ],
    );
    procs.push(seeder);
    const t0 = await waitListening(seedPort, 60_000);
    const done = await Promise.all(leechers.map((l) => l.waitForLine(/^complete /, s.capMs)));
    const cpu = totalCpu(procs);
    const leecherSeconds = done.map((d) => (d.at - t0) / 1000);
    const seconds = Math.max(...leecherSeconds);
    verifyAll(s, dirs, 'chunkswarm');
    measured = { seconds, efficiency: s.tMin / seconds, leecherSeconds, totalCpuSeconds: cpu };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
  if (!measured) throw new Error('unreachable: swarm run ended without a figure');
  // the totals are printed while stopping
  const totals = leechers.map((l) => parseTotals(l.lines.map((x) => x.line)));
  return {
    ...measured,
    traffic: swarmTraffic(
      totals.map((t) => t?.up ?? null),
      totals.map((t) => t?.down ?? null),
      s.size,
    ),
  };
}

async function libtorrentSwarm(s: Shape): Promise<SwarmRun> {
  const { ctx } = s;
  const n = ctx.opts.leechers;
  const peersFile = join(ctx.dir, 'lt-peers.txt');
  const leechers: Proc[] = [];
  const dirs: string[] = [];
  const addrs: string[] = [];
  const procs: Proc[] = [];
  // set at the end of the try block; when that block throws, nothing after `finally` runs
  let measured: Omit<SwarmRun, 'traffic'> | undefined;
  const maxSeconds = s.capMs / 1000 + 30;
  try {
    for (let i = 1; i <= n; i++) {
      const port = await freePort();
      const out = join(ctx.dir, 'lt-swarm', `l${i}`);
      mkdirSync(out, { recursive: true });
      dirs.push(out);
      addrs.push(`127.0.0.1:${port}`);
      const p = await startLtPeer(ctx.group, `lt-swarm-l${i}`, {
        torrent: s.torrent,
        save: out,
        listenPort: port,
        peersFile,
        uploadLimit: s.uplink,
        maxSeconds,
      });
      leechers.push(p);
      procs.push(p);
    }
    await Promise.all(leechers.map((l) => l.waitForLine(/"event": "listening"/, 30_000)));
    writeFileSync(peersFile, `${addrs.join('\n')}\n`);
    await sleep(2000);
    const seedPort = await freePort();
    const seeder = await startLtPeer(ctx.group, 'lt-swarm-seed', {
      torrent: s.torrent,
      save: join(ctx.dir, 'src'),
      listenPort: seedPort,
      seed: true,
      connect: addrs,
      uploadLimit: s.uplink,
      maxSeconds,
    });
    procs.push(seeder);
    const t0 = await waitListening(seedPort, 30_000);
    const done = await Promise.all(leechers.map((l) => l.waitForLine(/"event": "finished"/, s.capMs)));
    const cpu = totalCpu(procs);
    const leecherSeconds = done.map((d) => (d.at - t0) / 1000);
    const seconds = Math.max(...leecherSeconds);
    verifyAll(s, dirs, 'libtorrent');
    measured = { seconds, efficiency: s.tMin / seconds, leecherSeconds, totalCpuSeconds: cpu };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    for (const p of leechers) {
      const exit = ltEvent(p, 'exit');
      if (exit?.error) ctx.log(`swarm: ${p.name} reported ${String(exit.error)}`);
    }
  }
  if (!measured) throw new Error('unreachable: swarm run ended without a figure');
  const exits = leechers.map((l) => ltEvent(l, 'exit'));
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    ...measured,
    traffic: swarmTraffic(
      exits.map((e) => num(e?.payload_up)),
      exits.map((e) => num(e?.payload_down)),
      s.size,
    ),
  };
}
