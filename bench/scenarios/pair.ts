/**
 * Figure 1, pair throughput: one seeder, one leecher, one file on loopback. chunkswarm -> chunkswarm
 * meets through a chunkswarm tracker; libtorrent -> libtorrent is dialled directly (no tracker)
 * with the seeder in seed_mode: it skips the check at start but hashes each piece the first time
 * the leecher asks for it, so its seeder CPU includes one SHA-1 pass that chunkswarm's seeder did
 * before the leecher started. Rounds alternate between the two so drift in the machine (page
 * cache, thermal, other load) hits both alike; medians are reported.
 *
 * Wall time runs from spawning the leecher to its exit, so it includes start-up and the
 * tracker round trip for chunkswarm, and start-up for libtorrent: what a user waits for.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  chunkswarmCreate,
  cpuProfileFlags,
  downloadArgs,
  seedArgs,
  startChunkswarm,
  startChunkswarmTracker,
  startLtPeer,
} from '../lib/clients.js';
import { type FigureResult, fmt, type ScenarioContext, verdict } from '../lib/context.js';
import { makeSource, sha1File } from '../lib/datafile.js';
import { describeExit, freePort, type Proc } from '../lib/procs.js';
import { max, mbPerSecond, median, ratio, round } from '../lib/stats.js';

const PIECE = 1 << 20;
const GIB = 1 << 30;

/** CPU seconds per GiB moved: comparable across file sizes. */
export function cpuPerGiB(cpuSeconds: number | null, bytes: number): number | null {
  return cpuSeconds === null || !(bytes > 0) ? null : cpuSeconds / (bytes / GIB);
}

/** `chunkswarm --trace`: the leecher records its wire trace for a page (`--trace --web`), none open. */
type Client = 'chunkswarm' | 'libtorrent' | 'chunkswarm --trace';

export interface PairRound {
  client: Client;
  round: number;
  wallSeconds: number;
  /** spawn to the leecher saying it holds the whole file (before it shuts down) */
  completeSeconds: number | null;
  mbps: number | null;
  leecherCpuSeconds: number | null;
  seederCpuSeconds: number | null;
  leecherPeakRssMB: number | null;
}

interface Setup {
  ctx: ScenarioContext;
  source: string;
  sourceSha1: string;
  torrent: string;
  size: number;
  /** generous per-round cap: a 20 MB/s floor plus start-up */
  capMs: number;
}

export async function runPair(ctx: ScenarioContext): Promise<FigureResult> {
  const { opts, dir, log } = ctx;
  const size = opts.sizeMiB * 1024 * 1024;
  log(`pair: writing ${opts.sizeMiB} MiB of test data`);
  const { path: source, sha1: sourceSha1 } = makeSource(dir, 'pair.bin', size, 11);

  const cs = { group: ctx.group, bin: ctx.bin };
  const tracker = await startChunkswarmTracker(cs);
  const torrent = join(dir, 'pair.torrent');
  await chunkswarmCreate(ctx.bin, source, tracker.announceUrl, torrent, PIECE);
  const setup: Setup = { ctx, source, sourceSha1, torrent, size, capMs: 30_000 + (size / 20e6) * 1000 };

  const rounds: PairRound[] = [];
  for (let r = 1; r <= opts.rounds; r++) {
    // odd rounds libtorrent first, even rounds chunkswarm first
    const order: Client[] = r % 2 === 1 ? ['libtorrent', 'chunkswarm'] : ['chunkswarm', 'libtorrent'];
    // The traced round right beside a plain one, alternating which goes first, so drift hits both alike.
    if (opts.pairTrace) order.splice(order.indexOf('chunkswarm') + (r % 2), 0, 'chunkswarm --trace');
    for (const client of order) {
      const res =
        client === 'libtorrent'
          ? await libtorrentRound(setup, r)
          : await chunkswarmRound(setup, r, null, client === 'chunkswarm --trace');
      log(
        `pair round ${r} ${client}: ${fmt(res.wallSeconds, 2)} s (complete at ${fmt(res.completeSeconds, 2)} s), ${fmt(res.mbps, 0)} MB/s, leecher CPU ${fmt(res.leecherCpuSeconds, 2)} s, ` +
          `seeder CPU ${fmt(res.seederCpuSeconds, 2)} s, leecher peak RSS ${fmt(res.leecherPeakRssMB, 0)} MB`,
      );
      rounds.push(res);
    }
  }

  let profiles: string | null = null;
  if (ctx.profileDir) {
    profiles = join(ctx.profileDir, 'pair');
    log('pair: one more chunkswarm round with --cpu-prof (not counted)');
    await chunkswarmRound(setup, 0, profiles);
  }
  await tracker.proc.stop();

  const summary = (client: Client) => {
    const rs = rounds.filter((x) => x.client === client);
    const wall = median(rs.map((x) => x.wallSeconds));
    const leecherCpu = median(rs.map((x) => x.leecherCpuSeconds));
    const seederCpu = median(rs.map((x) => x.seederCpuSeconds));
    return {
      wallSeconds: round(wall),
      completeSeconds: round(median(rs.map((x) => x.completeSeconds))),
      mbps: round(mbPerSecond(size, wall), 1),
      leecherCpuSeconds: round(leecherCpu),
      seederCpuSeconds: round(seederCpu),
      leecherCpuSecondsPerGiB: round(cpuPerGiB(leecherCpu, size)),
      seederCpuSecondsPerGiB: round(cpuPerGiB(seederCpu, size)),
      leecherPeakRssMB: round(max(rs.map((x) => x.leecherPeakRssMB)), 1),
    };
  };
  const c = summary('chunkswarm');
  const l = summary('libtorrent');
  const speed = ratio(c.mbps, l.mbps);
  const t = opts.pairTrace ? summary('chunkswarm --trace') : null;
  const traceRows = t
    ? [
        {
          figure: 'pair with --trace (leecher --web --trace, no page open), MB/s; reference: without',
          chunkswarm: fmt(t.mbps, 0),
          reference: fmt(c.mbps, 0),
          ratio: fmt(ratio(t.mbps, c.mbps), 2, 'x'),
          target: '~1.0x (tracing off costs nothing)',
          verdict: '',
        },
        {
          figure: 'pair with --trace: leecher CPU-s per GiB; reference: without',
          chunkswarm: fmt(t.leecherCpuSecondsPerGiB, 2),
          reference: fmt(c.leecherCpuSecondsPerGiB, 2),
          ratio: fmt(ratio(t.leecherCpuSecondsPerGiB, c.leecherCpuSecondsPerGiB), 2, 'x'),
          target: '',
          verdict: '',
        },
      ]
    : [];
  const rows = [
    {
      figure: `pair ${opts.sizeMiB} MiB throughput, MB/s (median of ${opts.rounds})`,
      chunkswarm: fmt(c.mbps, 0),
      reference: fmt(l.mbps, 0),
      ratio: fmt(speed, 2, 'x'),
      target: '>= 1.0x libtorrent',
      verdict: verdict(speed === null ? null : speed >= 1.0),
    },
    {
      figure: 'pair wall time, s',
      chunkswarm: fmt(c.wallSeconds, 2),
      reference: fmt(l.wallSeconds, 2),
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      figure: 'pair leecher CPU-s per GiB',
      chunkswarm: fmt(c.leecherCpuSecondsPerGiB, 2),
      reference: fmt(l.leecherCpuSecondsPerGiB, 2),
      ratio: fmt(ratio(c.leecherCpuSecondsPerGiB, l.leecherCpuSecondsPerGiB), 2, 'x'),
      target: '',
      verdict: '',
    },
    {
      figure: 'pair seeder CPU-s per GiB',
      chunkswarm: fmt(c.seederCpuSecondsPerGiB, 2),
      reference: fmt(l.seederCpuSecondsPerGiB, 2),
      ratio: fmt(ratio(c.seederCpuSecondsPerGiB, l.seederCpuSecondsPerGiB), 2, 'x'),
      target: '',
      verdict: '',
    },
    {
      figure: 'pair leecher peak RSS, MB (max)',
      chunkswarm: fmt(c.leecherPeakRssMB, 0),
      reference: fmt(l.leecherPeakRssMB, 0),
      ratio: '',
      target: '< 200 MB',
      verdict: verdict(c.leecherPeakRssMB === null ? null : c.leecherPeakRssMB < 200),
    },
    ...traceRows,
  ];
  return {
    rows,
    data: {
      sizeBytes: size,
      pieceLength: PIECE,
      rounds: rounds.map((x) => ({
        ...x,
        wallSeconds: round(x.wallSeconds),
        completeSeconds: round(x.completeSeconds),
        mbps: round(x.mbps, 1),
        leecherCpuSeconds: round(x.leecherCpuSeconds),
        seederCpuSeconds: round(x.seederCpuSeconds),
        leecherPeakRssMB: round(x.leecherPeakRssMB, 1),
      })),
      median: { chunkswarm: c, libtorrent: l, ...(t ? { chunkswarmTrace: t } : {}) },
      throughputRatio: round(speed),
      targets: { throughputRatio: 1.0, leecherPeakRssMB: 200 },
      profiles,
    },
  };
}

/** CPU a seeder spends while the leecher runs: /proc/PID/stat read at both ends. */
function cpuDelta(seeder: Proc, before: number | null): number | null {
  const after = seeder.cpuSeconds();
  return before === null || after === null ? null : after - before;
}

async function finishLeecher(
  s: Setup,
  leecher: Proc,
  seeder: Proc,
  seederCpu0: number | null,
  client: Client,
  r: number,
  file: string,
) {
  const exit = await leecher.waitExit(s.capMs);
  const doneRe = client === 'libtorrent' ? /"event": "finished"/ : /^complete /;
  const doneLine = leecher.lines.find((l) => doneRe.test(l.line));
  const seederCpu = cpuDelta(seeder, seederCpu0);
  if (exit.code !== 0)
    throw new Error(`${client} leecher (round ${r}) ended with ${describeExit(exit)}: ${leecher.tail(3)}`);
  const wallSeconds = (exit.at - leecher.startedAt) / 1000;
  const usage = leecher.timeReport();
  if (sha1File(file) !== s.sourceSha1)
    throw new Error(`${client} leecher (round ${r}) wrote a file that differs from the source`);
  return {
    client,
    round: r,
    wallSeconds,
    completeSeconds: doneLine ? (doneLine.at - leecher.startedAt) / 1000 : null,
    mbps: mbPerSecond(s.size, wallSeconds),
    leecherCpuSeconds: usage?.cpuSeconds ?? null,
    seederCpuSeconds: seederCpu,
    leecherPeakRssMB: usage ? (usage.maxRssKiB * 1024) / 1e6 : null,
  };
}

async function libtorrentRound(s: Setup, r: number): Promise<PairRound> {
  const { ctx } = s;
  const out = join(ctx.dir, `lt-dl-${r}`);
  mkdirSync(out, { recursive: true });
  const seedPort = await freePort();
  const seeder = await startLtPeer(ctx.group, `lt-seed-${r}`, {
    torrent: s.torrent,
    save: join(ctx.dir, 'src'),
    listenPort: seedPort,
    seed: true,
    maxSeconds: s.capMs / 1000 + 60,
  });
  try {
    await seeder.waitForLine(/"event": "listening"/, 20_000);
    const cpu0 = seeder.cpuSeconds();
    const leecher = await startLtPeer(ctx.group, `lt-leech-${r}`, {
      torrent: s.torrent,
      save: out,
      listenPort: await freePort(),
      connect: [`127.0.0.1:${seedPort}`],
      exitOnFinish: true,
      maxSeconds: s.capMs / 1000,
      timed: true,
    });
    return await finishLeecher(s, leecher, seeder, cpu0, 'libtorrent', r, join(out, basename(s.source)));
  } finally {
    await seeder.stop();
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * One chunkswarm round; with profileDir, both processes write CPU profiles there; with `trace`, the leecher
 * records its wire trace (`--trace --web 127.0.0.1:0`).
 */
export async function chunkswarmRound(
  s: Setup,
  r: number,
  profileDir: string | null,
  trace = false,
): Promise<PairRound> {
  const { ctx } = s;
  const out = join(ctx.dir, `cs-dl-${r}${trace ? '-trace' : ''}`);
  const seedPort = await freePort();
  const cs = (role: string) => ({
    group: ctx.group,
    bin: ctx.bin,
    nodeArgs: profileDir ? cpuProfileFlags(profileDir, role) : [],
  });
  const seeder = await startChunkswarm(cs('seeder'), `cs-seed-${r}`, seedArgs(s.torrent, s.source, seedPort));
  try {
    await seeder.waitForLine(/^seeding /, 60_000);
    const cpu0 = seeder.cpuSeconds();
    const leecher = await startChunkswarm(
      cs('leecher'),
      `cs-leech-${r}`,
      downloadArgs(s.torrent, out, await freePort(), trace ? ['--trace', '--web', '127.0.0.1:0'] : []),
      true,
    );
    const client: Client = trace ? 'chunkswarm --trace' : 'chunkswarm';
    return await finishLeecher(s, leecher, seeder, cpu0, client, r, join(out, basename(s.source)));
  } finally {
    await seeder.stop();
    rmSync(out, { recursive: true, force: true });
  }
}
