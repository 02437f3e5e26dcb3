/**
 * Figure 3, tracker announce rate, for `chunkswarm tracker` and opentracker in the same run, over
 * HTTP and over UDP (BEP 15; both trackers serve it on their HTTP port's number):
 *  - HTTP: wrk (2 threads, 64 connections, one TCP connection per announce) with bench/announce.lua;
 *  - UDP: bench/udp-announce.ts, 64 sockets each repeating connect + announce.
 * Each load runs twice: with tracker and load sharing both cores (the figure that compares fairly
 * is then announces per tracker CPU-second), and with the tracker pinned to core 0 and the load to
 * core 1 (`taskset`), which gives announces per second from one core of tracker. Tracker CPU is
 * read from /proc/PID/stat just before and just after each measured load.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, cpuProfileFlags, ROOT, startChunkswarmTracker } from '../lib/clients.js';
import { type FigureResult, fmt, type Row, type ScenarioContext, verdict } from '../lib/context.js';
import { freePort, type Proc, sleep, waitListening } from '../lib/procs.js';
import { ratio, round } from '../lib/stats.js';
import { runUdpLoad, type UdpLoadResult } from '../lib/udp-load.js';
import { runWrk, servedAnnounces, swarmHashes, type WrkResult } from '../lib/wrk.js';

const SWARMS = 300;
const PEERS = 20000;
const WARMUP_SECONDS = 2;
const CONNECTIONS = 64;
/** Pinned runs: the tracker gets this core, the load generator the other. */
const TRACKER_CORE = '0';
const LOAD_CORE = '1';
/** A pinned tracker using less of its core than this was waiting for its load, not working. */
const BUSY_CORE_SHARE = 0.9;

type Protocol = 'http' | 'udp';

export interface TrackerRun {
  protocol: Protocol;
  /** tracker on one core, load on the other */
  pinned: boolean;
  /** announces answered with a list of peers */
  announces: number;
  seconds: number;
  announcesPerSecond: number;
  /** tracker CPU during the measured load */
  cpuSeconds: number | null;
  announcesPerCpuSecond: number | null;
  /** cpuSeconds / seconds: how much of a core the tracker used */
  coreShare: number | null;
  /** refusals, non-200 replies, UDP error replies or timeouts */
  failures: number;
  wrk?: WrkResult;
  udp?: UdpLoadResult;
}

/** What a measured run reads of the tracker: its CPU so far, and why it died if it did. */
export interface Measured {
  cpuSeconds(): number | null;
  died(): string | undefined;
}

function measuredProc(proc: Proc): Measured {
  return { cpuSeconds: () => proc.cpuSeconds(), died: () => (proc.exit ? proc.tail(3) : undefined) };
}

export interface Target {
  name: string;
  /** the process pinned to a core */
  proc: Proc;
  /** CPU and liveness read around a load, when more than `proc` counts (a fleet: its workers and Redis) */
  measured?: Measured;
  httpUrl: string;
  udpPort: number;
}

/** One announce by hand: resolves with the reply body. */
export function probeAnnounce(url: string, infoHashHex: string): Promise<string> {
  const ih = infoHashHex.replace(/../g, '%$&');
  const target = `${url}?info_hash=${ih}&peer_id=-BN0001-probe0000000&port=6881&uploaded=0&downloaded=0&left=0&compact=1`;
  return new Promise((resolve, reject) => {
    const req = request(target, { headers: { Connection: 'close' }, timeout: 3000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve(Buffer.concat(parts).toString('latin1')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no reply within 3 s')));
    req.on('error', reject);
    req.end();
  });
}

export async function waitAnswering(url: string, infoHash: string, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < end) {
    try {
      const body = await probeAnnounce(url, infoHash);
      if (body.includes('8:interval')) return;
      last = body.slice(0, 200);
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${url} gave no announce reply: ${last}`);
}

/** One load, warm-up first, with the tracker's CPU read around the measured part. */
export async function measure(
  ctx: ScenarioContext,
  t: Target,
  protocol: Protocol,
  pinned: boolean,
  swarmsFile: string,
): Promise<TrackerRun> {
  const where = pinned ? `, tracker on core ${TRACKER_CORE}, load on core ${LOAD_CORE}` : '';
  ctx.log(
    `tracker: ${t.name} ${protocol}${where}: ${WARMUP_SECONDS} s warm-up, then ${ctx.opts.trackerSeconds} s measured`,
  );
  const cpuSet = pinned ? LOAD_CORE : undefined;
  const load = (seconds: number) =>
    protocol === 'http'
      ? runWrk({ url: t.httpUrl, swarmsFile, peers: PEERS, connections: CONNECTIONS, seconds, cpus: cpuSet })
      : runUdpLoad({
          host: '127.0.0.1',
          port: t.udpPort,
          swarmsFile,
          peers: PEERS,
          inFlight: CONNECTIONS,
          seconds,
          cpus: cpuSet,
        });
  const m = t.measured ?? measuredProc(t.proc);
  await load(WARMUP_SECONDS);
  const cpu0 = m.cpuSeconds();
  const result = await load(ctx.opts.trackerSeconds);
  const cpu1 = m.cpuSeconds();
  const died = m.died();
  if (died !== undefined) throw new Error(`${t.name} died under load: ${died}`);
  const run = summarise(protocol, pinned, result, cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null);
  if (run.announces === 0) {
    const why = run.udp?.firstError ?? `${run.failures} failures`;
    throw new Error(`${t.name} answered no ${protocol} announce (${why})`);
  }
  ctx.log(
    `tracker: ${t.name} ${protocol}${pinned ? ' pinned' : ''}: ${fmt(run.announcesPerSecond, 0)} announces/s, ` +
      `${fmt(run.announcesPerCpuSecond, 0)} per CPU-s, tracker used ${fmt((run.coreShare ?? Number.NaN) * 100, 0)}% of a core, ` +
      `${run.failures} failures` +
      (run.udp ? `, load generator CPU ${fmt(run.udp.cpuSeconds, 1)} s` : ''),
  );
  return run;
}

/** A load's result as announces served, rates and failures, the same for wrk and the UDP load. */
export function summarise(
  protocol: Protocol,
  pinned: boolean,
  result: WrkResult | UdpLoadResult,
  cpuSeconds: number | null,
): TrackerRun {
  const isWrk = 'requests' in result;
  const announces = isWrk ? servedAnnounces(result) : result.announces;
  const failures = isWrk ? result.notOk + result.refused : result.errors + result.timeouts;
  const seconds = result.durationSeconds;
  return {
    protocol,
    pinned,
    announces,
    seconds,
    announcesPerSecond: seconds > 0 ? announces / seconds : 0,
    cpuSeconds,
    announcesPerCpuSecond: cpuSeconds !== null && cpuSeconds > 0 ? announces / cpuSeconds : null,
    coreShare: cpuSeconds !== null && seconds > 0 ? cpuSeconds / seconds : null,
    failures,
    ...(isWrk ? { wrk: result } : { udp: result }),
  };
}

/** Every thread of `pid` onto `core`; false when taskset is missing or refuses. */
function pin(pid: number, core: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', core, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The four loads against one tracker: http and udp, sharing the cores, then pinned. */
async function measureAll(
  ctx: ScenarioContext,
  t: Target,
  swarmsFile: string,
  canPin: boolean,
): Promise<Record<string, TrackerRun | null>> {
  const http = await measure(ctx, t, 'http', false, swarmsFile);
  const udp = await measure(ctx, t, 'udp', false, swarmsFile);
  let httpPinned: TrackerRun | null = null;
  let udpPinned: TrackerRun | null = null;
  if (canPin && pin(t.proc.pid, TRACKER_CORE)) {
    httpPinned = await measure(ctx, t, 'http', true, swarmsFile);
    udpPinned = await measure(ctx, t, 'udp', true, swarmsFile);
  } else ctx.log(`tracker: ${t.name}: not pinned (needs 2 cores and taskset); no one-core figures`);
  return { http, udp, httpPinned, udpPinned };
}

export async function startOpentracker(
  ctx: ScenarioContext,
  swarms: string[],
): Promise<{ proc: Proc; url: string; port: number }> {
  // Run as root it chroots into -d and drops to nobody: the folder and whitelist must be readable by all.
  const otDir = join(ctx.dir, 'opentracker');
  mkdirSync(otDir, { recursive: true });
  chmodSync(ctx.dir, 0o755);
  chmodSync(otDir, 0o755);
  const whitelist = join(otDir, 'whitelist.txt');
  writeFileSync(whitelist, `${swarms.join('\n')}\n`);
  chmodSync(whitelist, 0o644);
  const port = await freePort();
  // -i before -p/-P: the address applies to the ports named after it
  const proc = await ctx.group.start('opentracker', '/usr/bin/opentracker', [
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-P',
    String(port),
    '-d',
    otDir,
    '-w',
    'whitelist.txt',
  ]);
  const url = `http://127.0.0.1:${port}/announce`;
  await waitListening(port, 10_000);
  await waitAnswering(url, swarms[0] as string, 10_000);
  return { proc, url, port };
}

/** `count` swarms' infohashes, and the file the load generators announce into. */
export function writeSwarms(ctx: ScenarioContext, count: number): { swarms: string[]; swarmsFile: string } {
  const swarms = swarmHashes(count);
  const swarmsFile = join(ctx.dir, 'swarms.txt');
  writeFileSync(swarmsFile, `${swarms.join('\n')}\n`);
  return { swarms, swarmsFile };
}

export async function runTracker(ctx: ScenarioContext): Promise<FigureResult> {
  const { swarms, swarmsFile } = writeSwarms(ctx, SWARMS);
  const canPin = cpus().length >= 2;

  const ot = await startOpentracker(ctx, swarms);
  const otRuns = await measureAll(
    ctx,
    { name: 'opentracker', proc: ot.proc, httpUrl: ot.url, udpPort: ot.port },
    swarmsFile,
    canPin,
  );
  await ot.proc.stop();

  const cs = { group: ctx.group, bin: ctx.bin };
  const tracker = await startChunkswarmTracker(cs);
  await tracker.proc.waitForLine(/tracker listening on udp:\/\//, 10_000);
  await waitAnswering(tracker.announceUrl, swarms[0] as string, 10_000);
  const csRuns = await measureAll(
    ctx,
    { name: 'chunkswarm tracker', proc: tracker.proc, httpUrl: tracker.announceUrl, udpPort: tracker.port },
    swarmsFile,
    canPin,
  );
  await tracker.proc.stop();

  // The floors: Node answering a fixed reply per connection, on the tracker's socket layer and on
  // net.Server, and per datagram on the tracker's UDP socket and on a dgram Socket. The tracker's
  // per-CPU figure over its layer's floor is the share of each announce that is the tracker's own
  // work; the rest is what Node costs per connection or datagram.
  const floors: Record<string, TrackerRun | null> = {};
  for (const layer of ['handles', 'net', 'udp', 'dgram'] as const) {
    const proc = await ctx.group.start(
      `floor-${layer}`,
      process.execPath,
      ['--import', 'tsx', join(BENCH_DIR, 'tracker-floor.ts'), layer],
      { cwd: ROOT },
    );
    const { line } = await proc.waitForLine(/floor listening on \d+/, 20_000);
    const port = Number(/(\d+)$/.exec(line)?.[1]);
    const url = `http://127.0.0.1:${port}/announce`;
    floors[layer] = await measure(
      ctx,
      { name: `Node floor (${layer})`, proc, httpUrl: url, udpPort: port },
      layer === 'udp' || layer === 'dgram' ? 'udp' : 'http',
      false,
      swarmsFile,
    );
    await proc.stop();
  }

  let profiles: string | null = null;
  if (ctx.profileDir) {
    profiles = join(ctx.profileDir, 'tracker');
    ctx.log('tracker: one more chunkswarm run with --cpu-prof, http then udp (not counted)');
    const prof = await startChunkswarmTracker({ ...cs, nodeArgs: cpuProfileFlags(profiles, 'tracker') });
    await waitAnswering(prof.announceUrl, swarms[0] as string, 10_000);
    await runWrk({ url: prof.announceUrl, swarmsFile, peers: PEERS, seconds: ctx.opts.trackerSeconds });
    await runUdpLoad({
      host: '127.0.0.1',
      port: prof.port,
      swarmsFile,
      peers: PEERS,
      seconds: ctx.opts.trackerSeconds,
    });
    await prof.proc.stop();
  }

  const rows = trackerRows(csRuns, otRuns);
  rows.push(...floorRows(csRuns, floors));
  const clean = (r: TrackerRun | null | undefined) =>
    r
      ? {
          ...r,
          seconds: round(r.seconds, 3),
          announcesPerSecond: round(r.announcesPerSecond, 0),
          announcesPerCpuSecond: round(r.announcesPerCpuSecond, 0),
          cpuSeconds: round(r.cpuSeconds, 2),
          coreShare: round(r.coreShare, 3),
        }
      : null;
  const cleanAll = (runs: Record<string, TrackerRun | null>) =>
    Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, clean(r)]));
  return {
    rows,
    data: {
      swarms: SWARMS,
      peers: PEERS,
      seconds: ctx.opts.trackerSeconds,
      http: { tool: 'wrk', threads: 2, connections: CONNECTIONS, connectionClose: true },
      udp: { tool: 'bench/udp-announce.ts', inFlight: CONNECTIONS, exchange: 'connect + announce' },
      pinned: canPin ? { trackerCore: Number(TRACKER_CORE), loadCore: Number(LOAD_CORE) } : null,
      chunkswarm: cleanAll(csRuns),
      opentracker: cleanAll(otRuns),
      nodeFloor: cleanAll(floors),
      perCpuRatio: {
        http: round(ratio(csRuns.http?.announcesPerCpuSecond, otRuns.http?.announcesPerCpuSecond)),
        udp: round(ratio(csRuns.udp?.announcesPerCpuSecond, otRuns.udp?.announcesPerCpuSecond)),
      },
      target: 1.0,
      profiles,
    },
  };
}

/** The printed rows: per CPU-second (the fair comparison), announces/s shared, announces/s on one core. */
export function trackerRows(
  cs: Record<string, TrackerRun | null>,
  ot: Record<string, TrackerRun | null>,
): Row[] {
  const rows: Row[] = [];
  const failed = (r: TrackerRun | null | undefined) => (r && r.failures > 0 ? ` (${r.failures} failed)` : '');
  // a pinned tracker that did not fill its core waited: for its load generator, or for other work
  // on the machine that shared the core; either way the figure is not what one core can do
  const bound = (r: TrackerRun | null | undefined) =>
    r?.pinned && r.coreShare !== null && r.coreShare < BUSY_CORE_SHARE
      ? ` (used ${fmt(r.coreShare * 100, 0)}% of it)`
      : '';
  const row = (figure: string, key: string, pick: (r: TrackerRun) => number | null, judge: boolean): Row => {
    const c = cs[key] ?? null;
    const o = ot[key] ?? null;
    const r = ratio(c ? pick(c) : null, o ? pick(o) : null);
    return {
      figure,
      chunkswarm: fmt(c ? pick(c) : null, 0) + failed(c) + bound(c),
      reference: fmt(o ? pick(o) : null, 0) + failed(o) + bound(o),
      ratio: fmt(r, 2, 'x'),
      target: judge ? ">= opentracker's" : '',
      verdict: judge ? verdict(r === null ? null : r >= 1.0 && c?.failures === 0) : '',
    };
  };
  const perCpu = (r: TrackerRun) => r.announcesPerCpuSecond;
  const perSecond = (r: TrackerRun) => r.announcesPerSecond;
  rows.push(row('tracker http announces per tracker CPU-s (wrk -t2 -c64, close)', 'http', perCpu, true));
  rows.push(row('tracker udp announces per tracker CPU-s (connect+announce, 64)', 'udp', perCpu, true));
  rows.push(row('tracker http announces/s, tracker and wrk sharing 2 cores', 'http', perSecond, false));
  rows.push(row('tracker udp announces/s, tracker and load sharing 2 cores', 'udp', perSecond, false));
  if (cs.httpPinned || ot.httpPinned)
    rows.push(row('tracker http announces/s, tracker on 1 core', 'httpPinned', perSecond, false));
  if (cs.udpPinned || ot.udpPinned)
    rows.push(row('tracker udp announces/s, tracker on 1 core', 'udpPinned', perSecond, false));
  return rows;
}

/**
 * The floor rows: a fixed reply per connection (HTTP) or per datagram (UDP), per server
 * CPU-second. The ratio column is the tracker's figure over the floor's: how close the tracker
 * comes to what Node allows on that transport.
 */
export function floorRows(
  csRuns: Record<string, TrackerRun | null>,
  floors: Record<string, TrackerRun | null>,
): Row[] {
  const label: Record<string, string> = {
    handles: "Node floor: fixed reply per connection, tracker's socket layer, per CPU-s",
    net: 'Node floor: fixed reply per connection, net.Server, per CPU-s',
    udp: "Node floor: fixed reply per datagram, tracker's UDP socket, per CPU-s (connect+announce)",
    dgram: 'Node floor: fixed reply per datagram, dgram Socket, per CPU-s (connect+announce)',
  };
  return Object.entries(floors).map(([layer, f]) => {
    const cs = (layer === 'udp' || layer === 'dgram' ? csRuns.udp : csRuns.http) ?? null;
    const r = ratio(cs?.announcesPerCpuSecond ?? null, f?.announcesPerCpuSecond ?? null);
    return {
      figure: label[layer] ?? layer,
      chunkswarm: fmt(cs?.announcesPerCpuSecond ?? null, 0),
      reference: fmt(f?.announcesPerCpuSecond ?? null, 0),
      ratio: fmt(r, 2, 'x'),
      target: '',
      verdict: '',
    };
  });
}
