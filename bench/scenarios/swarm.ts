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
import { sha1File, writeSeededFile } from '../lib/datafile.js';
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
  const srcDir = join(dir, 'src');
  mkdirSync(srcDir, { recursive: true });
  const source = join(srcDir, 'swarm.bin');
  log(`swarm: writing ${opts.swarmMiB} MiB of test data`);
  writeSeededFile(source, size, 21);
  const tracker = await startChunkswarmTracker({ group: ctx.group, bin: ctx.bin }, ['--interval', '5']);
  const torrent = join(dir, 'swarm.torrent');
  await chunkswarmCreate(ctx.bin, source, tracker.announceUrl, torrent, PIECE);
  const tMin = size / uplink;
  const shape: Shape = {
    ctx,
    source,
    sourceSha1: sha1File(source),
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
    return { seconds, efficiency: s.tMin / seconds, leecherSeconds, totalCpuSeconds: cpu };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

async function libtorrentSwarm(s: Shape): Promise<SwarmRun> {
  const { ctx } = s;
  const n = ctx.opts.leechers;
  const peersFile = join(ctx.dir, 'lt-peers.txt');
  const leechers: Proc[] = [];
  const dirs: string[] = [];
  const addrs: string[] = [];
  const procs: Proc[] = [];
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
    return { seconds, efficiency: s.tMin / seconds, leecherSeconds, totalCpuSeconds: cpu };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    for (const p of leechers) {
      const exit = ltEvent(p, 'exit');
      if (exit?.error) ctx.log(`swarm: ${p.name} reported ${String(exit.error)}`);
    }
  }
}
