/**
 * `npm run bench`: chunkswarm's figures, each measured next to a reference client in the same run,
 * printed as a table and written to bench/results/<YYYY-MM-DD>.json. See bench/README.md.
 *
 * The bench reports; it never fails because a target was missed. It exits 1 only when a figure
 * could not be measured at all, 2 on bad options, 3 when --quiet-check finds the machine busy.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type BenchOptions, type Figure, parseBenchArgs, USAGE, UsageError } from './lib/args.js';
import { BENCH_DIR, chunkswarmBin, libtorrentVersion, ROOT, SYSTEM_PYTHON } from './lib/clients.js';
import type { FigureResult, Row, ScenarioContext } from './lib/context.js';
import { parseGitStatus, quietCheckRefusal, roundLoad } from './lib/machine.js';
import { ENV_NOT_PASSED, Janitor, ProcessGroup } from './lib/procs.js';
import { formatProfile, summariseProfileDir } from './lib/profile.js';
import { formatTable, localDate, writeResults } from './lib/report.js';
import { runDht } from './scenarios/dht.js';
import { runFleet } from './scenarios/fleet.js';
import { runPair } from './scenarios/pair.js';
import { runSha1 } from './scenarios/sha1.js';
import { runSwarm } from './scenarios/swarm.js';
import { runTracker } from './scenarios/tracker.js';

const t0 = performance.now();
function log(msg: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}

const SCENARIOS: Record<Figure, (ctx: ScenarioContext) => Promise<FigureResult>> = {
  pair: runPair,
  swarm: runSwarm,
  tracker: runTracker,
  sha1: runSha1,
  dht: runDht,
  fleet: runFleet,
};

/** Hard cap per figure, generous: a run past it is stuck, not slow. */
function capSeconds(f: Figure, o: BenchOptions): number {
  const extra = o.profile ? 1 : 0;
  switch (f) {
    case 'pair':
      return (o.rounds * 2 + extra) * (30 + (o.sizeMiB * 1.048576) / 20) + 120;
    case 'swarm':
      // libtorrent twice (seed_mode, super-seeding), chunkswarm once
      return (3 + extra) * ((o.swarmMiB / o.uplinkMiB) * 10 + 90) + 60;
    case 'tracker':
      // per tracker: http and udp, shared and pinned, each after a 2 s warm-up; four Node floors
      return (12 + 2 * extra) * (o.trackerSeconds + 2 + 10) + 120;
    case 'sha1':
      return 120 + o.sha1MiB / 50;
    case 'dht':
      // Joining dominates: 5,000 nodes took 3 CPU-minutes, 17 wall-minutes on a loaded two-core machine.
      return 120 + o.dhtNodes.reduce((a, n) => a + n * 0.4 + o.dhtLookups * 2, 0);
    case 'fleet':
      return (3 + extra) * (o.trackerSeconds + 40) + 60;
  }
}

/** What each figure needs installed, and the Debian package that brings it. */
function missingTools(f: Figure): string[] {
  const missing: string[] = [];
  const has = (path: string) => existsSync(path);
  const onPath = (cmd: string) =>
    spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (f === 'pair' || f === 'swarm') {
    const lt = spawnSync(SYSTEM_PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore' }).status === 0;
    if (!lt) missing.push('python3-libtorrent');
  }
  if (f === 'pair' && !has('/usr/bin/time')) missing.push('time');
  if (f === 'tracker' || f === 'fleet') {
    if (!onPath('wrk')) missing.push('wrk');
    if (!has('/usr/bin/opentracker')) missing.push('opentracker');
  }
  if (f === 'fleet' && !onPath('redis-server')) missing.push('redis-server');
  return missing;
}

function build(): void {
  log('building (npm run build)');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status === 0) return;
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
  if (!existsSync(chunkswarmBin()))
    throw new Error(`npm run build failed and there is no ${chunkswarmBin()}: ${tail}`);
  log(`warning: npm run build reported errors; measuring the JavaScript it emitted anyway: ${tail}`);
}

/**
 * A clone of the last commit in `into`, built there, sharing the checkout's node_modules: what the
 * commit says, whatever is being edited or rebuilt in the checkout meanwhile.
 */
function buildCommitted(into: string): string {
  log('cloning the last commit and building it');
  const clone = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, into], { encoding: 'utf8' });
  if (clone.status !== 0) throw new Error(`git clone failed: ${clone.stderr.trim()}`);
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'), 'dir');
  const r = spawnSync('npm', ['run', 'build'], { cwd: into, encoding: 'utf8' });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`the last commit does not build: ${tail}`);
  }
  return chunkswarmBin(into);
}

/** git's output, trimmed unless `raw` (`status --porcelain` lines start with a meaningful space). */
function git(args: string[], raw = false): string | null {
  try {
    const out = execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return raw ? out : out.trim();
  } catch {
    return null;
  }
}

async function machineInfo(): Promise<Record<string, unknown>> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryGB: Math.round(totalmem() / 1e9),
    kernel: release(),
    node: process.version,
    libtorrent: await libtorrentVersion(),
  };
}

function load(): number {
  return roundLoad(loadavg()[0]);
}

function withCap<T>(work: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} hit its ${Math.round(seconds)} s cap`)),
      seconds * 1000,
    );
  });
  return Promise.race([work, cap]).finally(() => clearTimeout(timer));
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // checked before anything starts: the build itself raises the load
  const refusal = opts.quietCheck ? quietCheckRefusal(load()) : null;
  if (refusal) {
    process.stderr.write(`${refusal}\n`);
    return 3;
  }

  const janitor = new Janitor();
  janitor.keepFiles = opts.keep;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping every process this bench started`);
    janitor.cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => janitor.cleanupNow());

  const root = mkdtempSync(join(tmpdir(), 'chunkswarm-bench-'));
  janitor.dirs.add(root);
  if (opts.keep) log(`temp files kept in ${root}`);
  // sha1 and dht measure code in this process: no CLI to build.
  const needsCli = opts.only.some((f) => f !== 'sha1' && f !== 'dht');
  let bin = chunkswarmBin();
  if (needsCli && opts.committed) bin = buildCommitted(join(root, 'committed'));
  else if (needsCli && opts.build) build();
  if (needsCli && !existsSync(bin)) throw new Error(`${bin} is missing: run npm run build`);

  const profileRoot = opts.profile ? join(BENCH_DIR, 'results', 'profiles', localDate()) : null;
  const commit = git(['rev-parse', 'HEAD']);
  // --committed measures a clean clone of HEAD; otherwise say what the checkout changes (the
  // results folder the bench writes is not a change to what is measured)
  const tree = opts.committed
    ? { dirty: false, paths: [] }
    : parseGitStatus(git(['status', '--porcelain', '--untracked-files=normal'], true) ?? '', [
        'bench/results',
      ]);
  const dirty = tree.paths.some((p) => p.startsWith('src/'));
  const measuredOn = {
    commit,
    srcDirty: dirty,
    treeDirty: tree.dirty,
    changedPaths: tree.paths,
    // set here but not given to the clients (see ENV_NOT_PASSED)
    envNotPassed: ENV_NOT_PASSED.filter((name) => process.env[name] !== undefined),
  };

  const rows: Row[] = [];
  const table: Record<string, Row[]> = {};
  const figures: Record<string, unknown> = {};
  let failures = 0;
  const busy: string[] = [];
  const loads: string[] = [];
  for (const f of opts.only) {
    const missing = missingTools(f);
    if (missing.length > 0) {
      const msg = `not run: apt-get install ${missing.join(' ')}`;
      log(`${f}: ${msg}`);
      const row = { figure: f, chunkswarm: msg, reference: '', ratio: '', target: '', verdict: 'n/a' };
      rows.push(row);
      table[f] = [row];
      failures++;
      continue;
    }
    const dir = join(root, f);
    mkdirSync(dir, { recursive: true });
    const group = new ProcessGroup(dir);
    janitor.groups.add(group);
    const ctx: ScenarioContext = { opts, dir, group, bin, log, profileDir: profileRoot };
    const started = new Date().toISOString();
    // other work on the machine skews every figure: record how busy it was
    const load1m = load();
    try {
      const res = await withCap(SCENARIOS[f](ctx), capSeconds(f, opts), f);
      const loadEnd = load();
      // Only the load at the start tells of other work: by the end it counts the figure's own processes
      // (a 1 + 24 swarm and its libtorrent twin alone take it to about 10).
      if (load1m > cpus().length) busy.push(`${f} (load ${load1m} -> ${loadEnd})`);
      rows.push(...res.rows);
      table[f] = res.rows;
      loads.push(`${f} ${load1m} -> ${loadEnd}`);
      figures[f] = {
        measuredAt: started,
        ...measuredOn,
        loadAverage1mAtStart: load1m,
        loadAverage1mAtEnd: loadEnd,
        ...res.data,
      };
    } catch (err) {
      if (interrupted) return 130;
      const msg = (err as Error).message;
      log(`${f} failed: ${msg}`);
      const row = {
        figure: f,
        chunkswarm: `failed: ${msg.slice(0, 160)}`,
        reference: '',
        ratio: '',
        target: '',
        verdict: 'n/a',
      };
      rows.push(row);
      table[f] = [row];
      figures[f] = { measuredAt: started, ...measuredOn, loadAverage1mAtStart: load1m, error: msg };
      failures++;
    } finally {
      await group.close();
      janitor.groups.delete(group);
    }
  }

  process.stdout.write(`\n${formatTable(rows)}\n`);
  if (busy.length > 0) {
    process.stdout.write(
      `\nnote: other work kept the machine busy (1-minute load above ${cpus().length} cores at the start) of ${busy.join(', ')}: ` +
        'each figure still sits beside its reference measured at the same time, but compare runs with care\n',
    );
  }
  const out = opts.out ?? join(BENCH_DIR, 'results', `${localDate()}.json`);
  writeResults(out, await machineInfo(), figures, table);
  const more = tree.paths.length > 3 ? ` and ${tree.paths.length - 3} more` : '';
  const state = tree.dirty ? `, uncommitted changes in ${tree.paths.slice(0, 3).join(', ')}${more}` : '';
  process.stdout.write(`\nresults: ${out}${commit ? ` (commit ${commit.slice(0, 10)}${state})` : ''}\n`);
  if (loads.length > 0) process.stdout.write(`1-minute load, start -> end: ${loads.join('; ')}\n`);

  if (profileRoot) {
    for (const f of opts.only) {
      for (const s of summariseProfileDir(
        join(profileRoot, f),
        opts.committed ? join(root, 'committed') : ROOT,
      ))
        process.stdout.write(`\n[${f}] ${formatProfile(s)}\n`);
    }
  }
  await janitor.cleanup();
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
