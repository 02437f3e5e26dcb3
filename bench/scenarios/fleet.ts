/**
 * Figure 6, a tracker fleet on Redis: figure 3's HTTP load (wrk, sharing the cores) against
 * `chunkswarm tracker --redis` with 1 and with 2 workers, over one redis-server on loopback (no
 * persistence: the figure is the tracker's and Redis's CPU, not a disk's fsync rate), and against
 * opentracker in the same run. Per CPU-second counts the tracker's processes (primary and workers)
 * and Redis's together, since Redis runs every announce's script. Redis's own CPU per announce
 * gives the ceiling one Redis core sets on a fleet of any size.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { startChunkswarmTracker } from '../lib/clients.js';
import { type FigureResult, fmt, type ScenarioContext } from '../lib/context.js';
import { freePort, type Proc, procCpuSeconds, waitListening } from '../lib/procs.js';
import { ratio, round } from '../lib/stats.js';
import {
  type Measured,
  measure,
  startOpentracker,
  type TrackerRun,
  waitAnswering,
  writeSwarms,
} from './tracker.js';

const SWARMS = 300;

/** PIDs whose parent is `pid` (the workers of a `--workers` primary). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The tracker's processes and Redis, as one CPU figure. */
function fleetCpu(tracker: Proc, redis: Proc, workers: readonly number[]): Measured {
  return {
    cpuSeconds() {
      let sum = 0;
      for (const pid of [tracker.pid, redis.pid, ...workers]) {
        const s = procCpuSeconds(pid);
        if (s === null) return null;
        sum += s;
      }
      return sum;
    },
    died: () => (tracker.exit ? tracker.tail(3) : redis.exit ? `redis-server: ${redis.tail(3)}` : undefined),
  };
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 5000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve(Buffer.concat(parts).toString()));
    });
    req.on('timeout', () => req.destroy(new Error('no reply within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Announces the tracker answered with something other than a swarm (store errors above all). */
function failedAnnounces(metrics: string): number {
  let n = 0;
  for (const m of metrics.matchAll(
    /^chunkswarm_tracker_announces_total\{transport="http",result="(\w+)"\} (\d+)$/gm,
  )) {
    if (m[1] !== 'ok') n += Number(m[2]);
  }
  return n;
}

interface FleetRun extends TrackerRun {
  workers: number;
  redisCpuSeconds: number | null;
  failed: number;
}

export async function runFleet(ctx: ScenarioContext): Promise<FigureResult> {
  const { swarms, swarmsFile } = writeSwarms(ctx, SWARMS);
  // the reference: opentracker under the same HTTP load, on its own process's CPU
  const ot = await startOpentracker(ctx, swarms);
  const otRun = await measure(
    ctx,
    { name: 'opentracker', proc: ot.proc, httpUrl: ot.url, udpPort: ot.port },
    'http',
    false,
    swarmsFile,
  );
  await ot.proc.stop();

  const runs: FleetRun[] = [];
  for (const workers of [1, 2]) {
    const port = await freePort();
    const redis = await ctx.group.start('redis-server', 'redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      ctx.dir,
    ]);
    await waitListening(port, 10_000);
    const url = `redis://127.0.0.1:${port}/0`;
    const tracker = await startChunkswarmTracker({ group: ctx.group, bin: ctx.bin }, [
      '--redis',
      url,
      '--workers',
      String(workers),
    ]);
    await waitAnswering(tracker.announceUrl, swarms[0] as string, 20_000);
    const pids = workers > 1 ? childPids(tracker.proc.pid) : [];
    if (workers > 1 && pids.length !== workers) {
      throw new Error(`expected ${workers} tracker workers, found ${pids.length}`);
    }
    const cpu = fleetCpu(tracker.proc, redis, pids);
    const redis0 = redis.cpuSeconds();
    const run = await measure(
      ctx,
      {
        name: `chunkswarm tracker --redis --workers ${workers}`,
        proc: tracker.proc,
        measured: cpu,
        httpUrl: tracker.announceUrl,
        udpPort: tracker.port,
      },
      'http',
      false,
      swarmsFile,
    );
    const redis1 = redis.cpuSeconds();
    const failed = failedAnnounces(await getText(tracker.announceUrl.replace(/announce$/, 'metrics')));
    runs.push({
      ...run,
      workers,
      redisCpuSeconds: redis0 !== null && redis1 !== null ? redis1 - redis0 : null,
      failed,
    });
    await tracker.proc.stop();
    await redis.stop();
  }

  const rows = runs.flatMap((r) => {
    // failure reasons the tracker counted, plus non-200 replies and refusals wrk saw
    const note = r.failed + r.failures > 0 ? ` (${r.failed + r.failures} failed)` : '';
    return [
      {
        figure: `fleet announces/s, ${r.workers} worker(s) + Redis`,
        chunkswarm: fmt(r.announcesPerSecond, 0) + note,
        reference: fmt(otRun.announcesPerSecond, 0),
        ratio: fmt(ratio(r.announcesPerSecond, otRun.announcesPerSecond), 2, 'x'),
        target: '',
        verdict: '',
      },
      {
        figure: `fleet announces per CPU-s (tracker + Redis), ${r.workers} worker(s)`,
        chunkswarm: fmt(r.announcesPerCpuSecond, 0) + note,
        reference: fmt(otRun.announcesPerCpuSecond, 0),
        ratio: fmt(ratio(r.announcesPerCpuSecond, otRun.announcesPerCpuSecond), 2, 'x'),
        target: '',
        verdict: '',
      },
    ];
  });
  // One Redis core runs every announce's script: its CPU per announce sets the fleet's ceiling.
  const best = runs.reduce((a, b) => (a.announcesPerSecond >= b.announcesPerSecond ? a : b));
  const redisCeiling =
    best.redisCpuSeconds && best.redisCpuSeconds > 0 ? best.announces / best.redisCpuSeconds : null;
  rows.push({
    figure: 'fleet ceiling: announces per Redis CPU-s (one Redis core)',
    chunkswarm: fmt(redisCeiling, 0),
    reference: '',
    ratio: '',
    target: '',
    verdict: '',
  });
  // Tracker processes keep nothing between announces: machines add up until Redis is busy.
  const perMachine = best.announcesPerSecond;
  rows.push({
    figure: 'fleet on N machines (estimate): announces/s',
    chunkswarm: redisCeiling === null ? '-' : `min(N x ${fmt(perMachine, 0)}, ${fmt(redisCeiling, 0)})`,
    reference: '',
    ratio: '',
    target: '',
    verdict: '',
  });
  const clean = (r: FleetRun) => ({
    workers: r.workers,
    announcesPerSecond: round(r.announcesPerSecond, 0),
    announcesPerCpuSecond: round(r.announcesPerCpuSecond, 0),
    cpuSeconds: round(r.cpuSeconds, 2),
    redisCpuSeconds: round(r.redisCpuSeconds, 2),
    failed: r.failed,
    failures: r.failures,
    wrk: r.wrk,
  });
  return {
    rows,
    data: {
      swarms: SWARMS,
      seconds: ctx.opts.trackerSeconds,
      runs: runs.map(clean),
      opentracker: {
        announcesPerSecond: round(otRun.announcesPerSecond, 0),
        announcesPerCpuSecond: round(otRun.announcesPerCpuSecond, 0),
      },
      redisCeilingPerSecond: round(redisCeiling, 0),
    },
  };
}
