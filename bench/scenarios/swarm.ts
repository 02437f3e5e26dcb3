/**
 * Figure 2, swarm efficiency: one seeder and N leechers, every process's upload capped at U. With
 * the seeder alone able to push U, no schedule can finish before T_min = F / U (every byte has to
 * leave the seeder once); efficiency = T_min / T, where T runs from the moment the seeder listens
 * until the last leecher holds the whole file. The leechers start first and keep seeding after they
 * finish, so the swarm can spread pieces among itself while the seeder is still sending.
 *
 * chunkswarm's peers meet through a chunkswarm tracker (announce interval 5 s). libtorrent's
 * leechers dial each other from a peers file and its seeder dials them all, so its figure does not
 * depend on our tracker. libtorrent runs twice: with its seeder in plain seed_mode, and with
 * super-seeding (torrent_flags.super_seeding, BEP 16), its own answer to a seeder that resends
 * pieces; chunkswarm is shown beside both.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  chunkswarmCreate,
  cpuProfileFlags,
  downloadArgs,
  ltEvent,
  seedArgs,
  startChunkswarm,
  startChunkswarmTracker,
  startLtPeer,
} from '../lib/clients.js';
import { type FigureResult, fmt, type Row, type ScenarioContext, verdict } from '../lib/context.js';
import { makeSource, sha1File } from '../lib/datafile.js';
import { freePort, type Proc, sleep, waitListening } from '../lib/procs.js';
import { ratio, round } from '../lib/stats.js';

/** Issue 14: at most 1.10 copies of the file leave the seeder. */
export const COPIES_TARGET = 1.1;

/** Efficiency wanted of chunkswarm: 0.95 up to 8 leechers, 0.85 in larger swarms (issue 14). */
export function efficiencyTarget(leechers: number): number {
  return leechers <= 8 ? 0.95 : 0.85;
}

export interface SwarmRun {
  /** seconds from the seeder listening to the last leecher's completion */
  seconds: number;
  efficiency: number;
  /** each leecher's completion, seconds after the seeder listened */
  leecherSeconds: number[];
  /** CPU seconds of all processes of the swarm (seeder, leechers and any tracker), summed */
  totalCpuSeconds: number | null;
  /** the part of totalCpuSeconds the seeder spent */
  seederCpuSeconds: number | null;
  /** the part the tracker spent during the run (chunkswarm only; libtorrent's peers dial directly) */
  trackerCpuSeconds: number | null;
  /**
   * The part the leechers had spent when the seeder was started: starting the program and two idle seconds
   * among each other. Nothing moves before the seeder, so this is each client's fixed cost per process.
   */
  leecherStartCpuSeconds: number | null;
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
  const piece = opts.swarmPieceKiB * 1024;
  const uplink = opts.uplinkMiB * 1024 * 1024;
  log(`swarm: writing ${opts.swarmMiB} MiB of test data`);
  const { path: source, sha1: sourceSha1 } = makeSource(dir, 'swarm.bin', size, 21);
  const tracker = await startChunkswarmTracker({ group: ctx.group, bin: ctx.bin }, ['--interval', '5']);
  const torrent = join(dir, 'swarm.torrent');
  await chunkswarmCreate(ctx.bin, source, tracker.announceUrl, torrent, piece);
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

  const who = `1 seeder + ${opts.leechers} leechers, ${opts.uplinkMiB} MiB/s uplinks`;
  const say = (name: string, r: SwarmRun) =>
    log(
      `swarm ${name}: last leecher done after ${fmt(r.seconds, 1)} s, efficiency ${fmt(r.efficiency, 2)}, ` +
        `seeder copies ${fmt(r.traffic.seederCopies, 2)}, CPU of all processes ${fmt(r.totalCpuSeconds, 1)} s`,
    );
  log(`swarm: libtorrent (seed_mode), ${who}`);
  const lt = await libtorrentSwarm(shape, false);
  say('libtorrent', lt);
  log(`swarm: libtorrent (super-seeding), ${who}`);
  // Super-seeding reveals pieces one at a time and can be slow; a run that does not finish is
  // reported as such beside the others rather than losing the whole figure.
  let lts: SwarmRun | null = null;
  let ltsError: string | null = null;
  try {
    lts = await libtorrentSwarm(shape, true);
    say('libtorrent super-seeding', lts);
  } catch (err) {
    ltsError = (err as Error).message;
    log(`swarm libtorrent super-seeding failed: ${ltsError}`);
  }
  log('swarm: chunkswarm seed and download once, unmeasured, so that their code caches are written');
  await warmCodeCaches(shape);
  log(`swarm: chunkswarm, ${who}`);
  const cs = await chunkswarmSwarm(shape, tracker.proc, null);
  say('chunkswarm', cs);
  let profiles: string | null = null;
  if (ctx.profileDir) {
    profiles = join(ctx.profileDir, 'swarm');
    log('swarm: one more chunkswarm run with --cpu-prof (not counted)');
    await chunkswarmSwarm(shape, tracker.proc, profiles);
  }
  await tracker.proc.stop();

  const target = efficiencyTarget(opts.leechers);
  const rows = [
    ...swarmRows(`1+${opts.leechers} ${opts.swarmMiB} MiB, lt seed_mode`, cs, lt, tMin, target, true),
    ...swarmRows(`1+${opts.leechers} ${opts.swarmMiB} MiB, lt super-seeding`, cs, lts, tMin, target, false),
  ];
  const clean = (r: SwarmRun) => ({
    seconds: round(r.seconds),
    efficiency: round(r.efficiency),
    capsHeld: capsHeld(r, tMin),
    leecherSeconds: r.leecherSeconds.map((x) => round(x)),
    totalCpuSeconds: round(r.totalCpuSeconds),
    seederCpuSeconds: round(r.seederCpuSeconds),
    trackerCpuSeconds: round(r.trackerCpuSeconds),
    leecherStartCpuSeconds: round(r.leecherStartCpuSeconds),
    leecherUpBytes: r.traffic.leecherUpBytes,
    leecherDownBytes: r.traffic.leecherDownBytes,
    seederCopies: round(r.traffic.seederCopies),
  });
  return {
    rows,
    data: {
      sizeBytes: size,
      pieceLength: piece,
      leechers: opts.leechers,
      uplinkBytesPerSecond: uplink,
      tMinSeconds: tMin,
      chunkswarm: clean(cs),
      libtorrent: clean(lt),
      libtorrentSuperSeeding: lts ? clean(lts) : { error: ltsError },
      targets: { efficiency: target, seederCopies: COPIES_TARGET, cpuRatio: 1.0 },
      profiles,
    },
  };
}

/** Finishing faster than T_min means some cap did not hold, and the efficiency means nothing. */
function capsHeld(r: SwarmRun, tMin: number): boolean {
  return r.seconds >= tMin * 0.95;
}

/**
 * The rows comparing chunkswarm's run with one libtorrent run. Targets on chunkswarm's own figures
 * (efficiency, copies) are judged once, in the `judge` block; CPU is judged against each reference.
 */
export function swarmRows(
  label: string,
  cs: SwarmRun,
  ref: SwarmRun | null,
  tMin: number,
  target: number,
  judge: boolean,
): Row[] {
  const held = (r: SwarmRun) => (capsHeld(r, tMin) ? '' : ' (caps broke)');
  const cpu = ratio(cs.totalCpuSeconds, ref?.totalCpuSeconds);
  const copies = cs.traffic.seederCopies;
  return [
    {
      figure: `swarm ${label}: last leecher done, s`,
      chunkswarm: fmt(cs.seconds, 1),
      reference: ref ? fmt(ref.seconds, 1) : 'did not finish',
      ratio: '',
      target: `T_min ${fmt(tMin, 1)} s`,
      verdict: '',
    },
    {
      figure: `swarm ${label}: efficiency (T_min / T)`,
      chunkswarm: fmt(cs.efficiency, 2) + held(cs),
      reference: ref ? fmt(ref.efficiency, 2) + held(ref) : '-',
      ratio: fmt(ratio(cs.efficiency, ref?.efficiency), 2, 'x'),
      target: judge ? `>= ${target.toFixed(2)}` : '',
      verdict: judge ? verdict(capsHeld(cs, tMin) && cs.efficiency >= target) : '',
    },
    {
      figure: `swarm ${label}: copies of the file the seeder sent`,
      chunkswarm: fmt(copies, 2),
      reference: fmt(ref?.traffic.seederCopies, 2),
      ratio: '',
      target: judge ? `<= ${COPIES_TARGET.toFixed(2)}` : '',
      verdict: judge ? verdict(copies === null ? null : copies <= COPIES_TARGET) : '',
    },
    {
      figure: `swarm ${label}: leecher uploads, MB (min-max)`,
      chunkswarm: spread(cs.traffic.leecherUpBytes),
      reference: ref ? spread(ref.traffic.leecherUpBytes) : '-',
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      figure: `swarm ${label}: CPU of all processes, s`,
      chunkswarm: fmt(cs.totalCpuSeconds, 1),
      reference: fmt(ref?.totalCpuSeconds, 1),
      ratio: fmt(cpu, 2, 'x'),
      target: '<= 1.00x',
      verdict: verdict(cpu === null ? null : cpu <= 1.0),
    },
    {
      figure: `swarm ${label}: of that CPU, the leechers' before the seeder started, s`,
      chunkswarm: fmt(cs.leecherStartCpuSeconds, 1),
      reference: fmt(ref?.leecherStartCpuSeconds, 1),
      ratio: fmt(ratio(cs.leecherStartCpuSeconds, ref?.leecherStartCpuSeconds), 2, 'x'),
      target: '',
      verdict: '',
    },
  ];
}

function spread(bytes: (number | null)[]): string {
  const xs = bytes.filter((b): b is number => typeof b === 'number').map((b) => b / 1e6);
  if (xs.length === 0) return '-';
  return `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;
}

/** CPU seconds of each process and their sum, read together (null when one is gone). */
function cpuOf(procs: Proc[]): { total: number | null; each: (number | null)[] } {
  const each = procs.map((p) => p.cpuSeconds());
  const total = each.every((c) => c !== null) ? each.reduce<number>((a, c) => a + (c ?? 0), 0) : null;
  return { total, each };
}

function verifyAll(s: Shape, dirs: string[], who: string): void {
  dirs.forEach((d, i) => {
    if (sha1File(join(d, basename(s.source))) !== s.sourceSha1)
      throw new Error(`${who} leecher ${i + 1} wrote a file that differs from the source`);
  });
}

/**
 * One `seed` and one `download` of the figure's torrent at full speed, not measured: each writes its V8 code
 * cache as it exits (src/cli/launcher.ts), as any run after a command's first finds it. Without this the
 * figure measured a first run when it ran alone (`--only swarm`) and a later one after the pair figure: in the
 * 1 + 24 shape by hand, 24 leechers compiling from source finished 0.3 to 0.9 s later on about 1 CPU-s more.
 * libtorrent's side is compiled code, and its Python byte-compiled when installed.
 */
async function warmCodeCaches(s: Shape): Promise<void> {
  const { ctx } = s;
  const seedPort = await freePort();
  const seeder = await startChunkswarm(
    { group: ctx.group, bin: ctx.bin },
    'cs-warm-seed',
    seedArgs(s.torrent, s.source, seedPort),
  );
  try {
    await waitListening(seedPort, 60_000);
    const leecher = await startChunkswarm(
      { group: ctx.group, bin: ctx.bin },
      'cs-warm-leecher',
      downloadArgs(s.torrent, join(ctx.dir, 'cs-warm'), 0),
    );
    const exit = await Promise.race([leecher.exited, sleep(s.capMs).then(() => null)]);
    if (exit === null) await leecher.stop();
    if (exit?.code !== 0)
      throw new Error(`the warm-up download ${exit ? `exited with ${exit.code}` : 'did not finish'}`);
  } finally {
    await seeder.stop();
  }
}

async function chunkswarmSwarm(s: Shape, tracker: Proc, profileDir: string | null): Promise<SwarmRun> {
  const { ctx } = s;
  // the tracker serves every run of the figure: count what it spends during this one
  const trackerCpu0 = tracker.cpuSeconds();
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
      const args = downloadArgs(s.torrent, out, port, ['--seed', '--upload-limit', limit]);
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
    const startCpu = cpuOf(leechers).total;
    const seedPort = await freePort();
    const seeder = await startChunkswarm(
      { group: ctx.group, bin: ctx.bin, nodeArgs: nodeArgs('seeder') },
      `${run}-seed`,
      seedArgs(s.torrent, s.source, seedPort, ['--upload-limit', limit]),
    );
    procs.push(seeder);
    const t0 = await waitListening(seedPort, 60_000);
    const done = await Promise.all(leechers.map((l) => l.waitForLine(/^complete /, s.capMs)));
    // the seeder was started last
    const cpu = cpuOf(procs);
    const trackerCpu1 = tracker.cpuSeconds();
    const trackerCpu = trackerCpu0 !== null && trackerCpu1 !== null ? trackerCpu1 - trackerCpu0 : null;
    const leecherSeconds = done.map((d) => (d.at - t0) / 1000);
    const seconds = Math.max(...leecherSeconds);
    verifyAll(s, dirs, 'chunkswarm');
    measured = {
      seconds,
      efficiency: s.tMin / seconds,
      leecherSeconds,
      totalCpuSeconds: cpu.total !== null && trackerCpu !== null ? cpu.total + trackerCpu : null,
      seederCpuSeconds: cpu.each.at(-1) ?? null,
      trackerCpuSeconds: trackerCpu,
      leecherStartCpuSeconds: startCpu,
    };
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

async function libtorrentSwarm(s: Shape, superSeed: boolean): Promise<SwarmRun> {
  const { ctx } = s;
  const n = ctx.opts.leechers;
  const run = superSeed ? 'lt-super' : 'lt-swarm';
  const peersFile = join(ctx.dir, `${run}-peers.txt`);
  const leechers: Proc[] = [];
  const dirs: string[] = [];
  const addrs: string[] = [];
  const procs: Proc[] = [];
  // set at the end of the try block; when that block throws, nothing after `finally` runs
  let measured: Omit<SwarmRun, 'traffic'> | undefined;
  const maxSeconds = s.capMs / 1000 + 30;
  try {
    const ports: number[] = [];
    for (let i = 1; i <= n; i++) {
      const port = await freePort();
      const out = join(ctx.dir, run, `l${i}`);
      mkdirSync(out, { recursive: true });
      dirs.push(out);
      ports.push(port);
      addrs.push(`127.0.0.1:${port}`);
    }
    // started side by side; each resolves once it listens
    const started = await Promise.all(
      ports.map((port, i) =>
        startLtPeer(ctx.group, `${run}-l${i + 1}`, {
          torrent: s.torrent,
          save: dirs[i] as string,
          listenPort: port,
          peersFile,
          uploadLimit: s.uplink,
          maxSeconds,
        }),
      ),
    );
    leechers.push(...started);
    procs.push(...started);
    writeFileSync(peersFile, `${addrs.join('\n')}\n`);
    await sleep(2000);
    const startCpu = cpuOf(leechers).total;
    const seedPort = await freePort();
    // the clock starts when its port listens (as for chunkswarm), not when its output says so
    const listening = waitListening(seedPort, 30_000);
    listening.catch(() => {});
    const seeder = await startLtPeer(ctx.group, `${run}-seed`, {
      torrent: s.torrent,
      save: join(ctx.dir, 'src'),
      listenPort: seedPort,
      seed: true,
      superSeed,
      connect: addrs,
      uploadLimit: s.uplink,
      maxSeconds,
    });
    procs.push(seeder);
    const t0 = await listening;
    const done = await Promise.all(leechers.map((l) => l.waitForLine(/"event": "finished"/, s.capMs)));
    // the seeder was started last
    const cpu = cpuOf(procs);
    const leecherSeconds = done.map((d) => (d.at - t0) / 1000);
    const seconds = Math.max(...leecherSeconds);
    verifyAll(s, dirs, superSeed ? 'libtorrent (super-seeding)' : 'libtorrent');
    measured = {
      seconds,
      efficiency: s.tMin / seconds,
      leecherSeconds,
      totalCpuSeconds: cpu.total,
      seederCpuSeconds: cpu.each.at(-1) ?? null,
      trackerCpuSeconds: null,
      leecherStartCpuSeconds: startCpu,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    for (const p of procs) {
      const exit = ltEvent(p, 'exit');
      if (exit?.error) ctx.log(`swarm: ${p.name} reported ${String(exit.error)}`);
    }
  }
  if (!measured) throw new Error('unreachable: swarm run ended without a figure');
  // the seeder's exit line says whether libtorrent really ran it super-seeding
  const seedExit = procs.length > n ? ltEvent(procs[n] as Proc, 'exit') : null;
  if (superSeed && seedExit?.super_seeding !== true)
    throw new Error(`libtorrent's seeder did not report super-seeding: ${JSON.stringify(seedExit)}`);
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
