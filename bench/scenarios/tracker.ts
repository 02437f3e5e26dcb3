/**
 * Figure 3, tracker announce rate: wrk (2 threads, 64 connections, one TCP connection per announce)
 * sends varied announces to `chunkswarm tracker` and to opentracker in the same run. The figure
 * that compares fairly is announces per tracker CPU-second, since wrk itself competes for the
 * same cores; announces per second is printed beside it. Tracker CPU is read from /proc/PID/stat
 * just before and just after the measured load.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpuProfileFlags, startChunkswarmTracker } from '../lib/clients.js';
import { type FigureResult, fmt, type ScenarioContext, verdict } from '../lib/context.js';
import { freePort, type Proc, sleep, waitListening } from '../lib/procs.js';
import { ratio, round } from '../lib/stats.js';
import { runWrk, servedAnnounces, swarmHashes, type WrkResult } from '../lib/wrk.js';

const SWARMS = 300;
const PEERS = 20000;
const WARMUP_SECONDS = 2;

export interface TrackerRun {
  announcesPerSecond: number;
  announcesPerCpuSecond: number | null;
  cpuSeconds: number | null;
  wrk: WrkResult;
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

/** What a measured run reads of the tracker: its CPU so far, and why it died if it did. */
export interface Measured {
  cpuSeconds(): number | null;
  died(): string | undefined;
}

export function measuredProc(proc: Proc): Measured {
  return { cpuSeconds: () => proc.cpuSeconds(), died: () => (proc.exit ? proc.tail(3) : undefined) };
}

export async function measure(
  ctx: ScenarioContext,
  name: string,
  url: string,
  target: Proc | Measured,
  swarmsFile: string,
): Promise<TrackerRun> {
  const proc = 'died' in target ? target : measuredProc(target);
  const load = { url, swarmsFile, peers: PEERS };
  ctx.log(`tracker: ${name}: ${WARMUP_SECONDS} s warm-up, then ${ctx.opts.trackerSeconds} s measured`);
  await runWrk({ ...load, seconds: WARMUP_SECONDS });
  const cpu0 = proc.cpuSeconds();
  const wrk = await runWrk({ ...load, seconds: ctx.opts.trackerSeconds });
  const cpu1 = proc.cpuSeconds();
  const died = proc.died();
  if (died !== undefined) throw new Error(`${name} died under load: ${died}`);
  const served = servedAnnounces(wrk);
  const cpu = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
  const run = {
    announcesPerSecond: served / wrk.durationSeconds,
    announcesPerCpuSecond: cpu && cpu > 0 ? served / cpu : null,
    cpuSeconds: cpu,
    wrk,
  };
  ctx.log(
    `tracker: ${name}: ${fmt(run.announcesPerSecond, 0)} announces/s, ${fmt(run.announcesPerCpuSecond, 0)} per CPU-s ` +
      `(${wrk.requests} requests, ${wrk.notOk} non-200, ${wrk.refused} refused, ${wrk.errRead} read errors)`,
  );
  return run;
}

export async function startOpentracker(
  ctx: ScenarioContext,
  swarms: string[],
): Promise<{ proc: Proc; url: string }> {
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
  return { proc, url };
}

/**
 * The swarms file wrk announces into, and opentracker measured on it: the reference every
 * tracker figure sits beside.
 */
export async function swarmsAndReference(
  ctx: ScenarioContext,
  count: number,
): Promise<{ swarms: string[]; swarmsFile: string; otRun: TrackerRun }> {
  const swarms = swarmHashes(count);
  const swarmsFile = join(ctx.dir, 'swarms.txt');
  writeFileSync(swarmsFile, `${swarms.join('\n')}\n`);
  const ot = await startOpentracker(ctx, swarms);
  const otRun = await measure(ctx, 'opentracker', ot.url, ot.proc, swarmsFile);
  await ot.proc.stop();
  return { swarms, swarmsFile, otRun };
}

export async function runTracker(ctx: ScenarioContext): Promise<FigureResult> {
  const { swarms, swarmsFile, otRun } = await swarmsAndReference(ctx, SWARMS);

  const cs = { group: ctx.group, bin: ctx.bin };
  const tracker = await startChunkswarmTracker(cs);
  await waitAnswering(tracker.announceUrl, swarms[0] as string, 10_000);
  const csRun = await measure(ctx, 'chunkswarm tracker', tracker.announceUrl, tracker.proc, swarmsFile);
  await tracker.proc.stop();

  let profiles: string | null = null;
  if (ctx.profileDir) {
    profiles = join(ctx.profileDir, 'tracker');
    ctx.log('tracker: one more chunkswarm run with --cpu-prof (not counted)');
    const prof = await startChunkswarmTracker({ ...cs, nodeArgs: cpuProfileFlags(profiles, 'tracker') });
    await waitAnswering(prof.announceUrl, swarms[0] as string, 10_000);
    await runWrk({ url: prof.announceUrl, swarmsFile, peers: PEERS, seconds: ctx.opts.trackerSeconds });
    await prof.proc.stop();
  }

  const perCpu = ratio(csRun.announcesPerCpuSecond, otRun.announcesPerCpuSecond);
  const csClean = csRun.wrk.notOk === 0 && csRun.wrk.refused === 0;
  const rows = [
    {
      figure: 'tracker announces/s (wrk -t2 -c64, Connection: close)',
      chunkswarm: fmt(csRun.announcesPerSecond, 0),
      reference: fmt(otRun.announcesPerSecond, 0),
      ratio: fmt(ratio(csRun.announcesPerSecond, otRun.announcesPerSecond), 2, 'x'),
      target: '',
      verdict: '',
    },
    {
      figure: 'tracker announces per tracker CPU-s',
      chunkswarm: fmt(csRun.announcesPerCpuSecond, 0) + (csClean ? '' : ' (with failures)'),
      reference: fmt(otRun.announcesPerCpuSecond, 0),
      ratio: fmt(perCpu, 2, 'x'),
      target: ">= opentracker's",
      verdict: verdict(perCpu === null ? null : perCpu >= 1.0 && csClean),
    },
  ];
  const clean = (r: TrackerRun) => ({
    announcesPerSecond: round(r.announcesPerSecond, 0),
    announcesPerCpuSecond: round(r.announcesPerCpuSecond, 0),
    cpuSeconds: round(r.cpuSeconds, 2),
    wrk: r.wrk,
  });
  return {
    rows,
    data: {
      swarms: SWARMS,
      peers: PEERS,
      seconds: ctx.opts.trackerSeconds,
      threads: 2,
      connections: 64,
      chunkswarm: clean(csRun),
      opentracker: clean(otRun),
      perCpuRatio: round(perCpu),
      target: 1.0,
      profiles,
    },
  };
}
