/**
 * The processes a bench run starts: spawn, follow their output line by line, read their CPU time
 * from /proc, stop them by PID. Every process goes through a ProcessGroup so a failure, a time cap
 * or Ctrl-C can stop all of them and nothing else.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/** Clock ticks per second, the unit of utime/stime in /proc/PID/stat. */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime in seconds from the text of /proc/PID/stat (all threads of the process). */
export function parseProcStatCpu(stat: string, clkTck: number = CLK_TCK): number {
  // The command name (field 2) may hold spaces and parentheses: count fields from the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/PID/stat line');
  const fields = stat
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state), so utime (14) and stime (15) sit at 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('truncated /proc/PID/stat line');
  return (utime + stime) / clkTck;
}

/** CPU seconds a live process has used so far, or null once it is gone. */
export function procCpuSeconds(pid: number): number | null {
  try {
    return parseProcStatCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Peak resident set (VmHWM) of a live process in KiB, or null once it is gone. */
export function procPeakRssKiB(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** What `/usr/bin/time -f TIME_FORMAT` writes about the program it ran. */
export interface TimeReport {
  userSeconds: number;
  systemSeconds: number;
  cpuSeconds: number;
  maxRssKiB: number;
  wallSeconds: number;
}

export const TIME_FORMAT = 'bench-time user=%U sys=%S maxrss_kb=%M wall=%e';

/** Reads the line TIME_FORMAT produces; GNU time may put "Command exited with ..." before it. */
export function parseTimeReport(text: string): TimeReport | null {
  const m = /bench-time user=([\d.]+) sys=([\d.]+) maxrss_kb=(\d+) wall=([\d.]+)/.exec(text);
  if (!m) return null;
  const userSeconds = Number(m[1]);
  const systemSeconds = Number(m[2]);
  return {
    userSeconds,
    systemSeconds,
    cpuSeconds: userSeconds + systemSeconds,
    maxRssKiB: Number(m[3]),
    wallSeconds: Number(m[4]),
  };
}

/** Ports in LISTEN state, read from /proc/net/tcp{,6}: no connection is made to find out. */
export function parseListeningPorts(procNetTcp: string): Set<number> {
  const ports = new Set<number>();
  for (const line of procNetTcp.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== '0A') continue;
    const local = cols[1] ?? '';
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (Number.isFinite(port)) ports.add(port);
  }
  return ports;
}

export function isListening(port: number): boolean {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      if (parseListeningPorts(readFileSync(file, 'utf8')).has(port)) return true;
    } catch {
      // tcp6 is absent on hosts without IPv6
    }
  }
  return false;
}

/** Polls until `port` listens (no connection is made, so the server sees nothing); returns that time. */
export async function waitListening(port: number, timeoutMs: number, everyMs = 5): Promise<number> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (isListening(port)) return performance.now();
    await sleep(everyMs);
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${Math.round(timeoutMs / 1000)} s`);
}

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface OutputLine {
  line: string;
  /** performance.now() when the line arrived */
  at: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** run under /usr/bin/time to get the program's exact CPU seconds and peak RSS when it exits */
  timed?: boolean;
}

const KEEP_LINES = 400;

/**
 * Variables of the bench's own environment that the clients it starts do not get. NODE_EXTRA_CA_CERTS
 * (set machine-wide on some hosts for a TLS proxy) makes every Node process read and parse that CA bundle
 * as it starts: 40 to 50 ms of CPU here, 26 times over in a 1 + 24 swarm, while libtorrent's Python
 * ignores it. Every client in a figure talks plain HTTP and the peer protocol on loopback, so no trust
 * store bears on what is measured.
 */
export const ENV_NOT_PASSED = ['NODE_EXTRA_CA_CERTS'] as const;

/** The environment a started client gets: the bench's, less ENV_NOT_PASSED, plus `extra`. */
export function clientEnv(base: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, NO_COLOR: '1', ...extra };
  for (const name of ENV_NOT_PASSED) if (!(name in extra)) delete env[name];
  return env;
}

/** One started program. `pid` is the program's own PID, also when /usr/bin/time wraps it. */
export class Proc {
  readonly lines: OutputLine[] = [];
  readonly startedAt = performance.now();
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | null = null;
  #pid: number;
  #waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly timeFile: string | null,
    /** every line also goes here, with seconds since start, for a post-mortem with --keep */
    readonly logFile: string | null = null,
  ) {
    const log = logFile ? createWriteStream(logFile) : null;
    log?.on('error', () => {});
    this.#pid = child.pid ?? -1;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: performance.now() };
        log?.end(`${this.#since(this.exit.at)} [exited with ${describeExit(this.exit)}]\n`);
        this.#notify();
        resolve(this.exit);
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
        const at = performance.now();
        this.lines.push({ line, at });
        if (log && !this.exit) log.write(`${this.#since(at)} ${line}\n`);
        if (this.lines.length > KEEP_LINES) this.lines.splice(0, this.lines.length - KEEP_LINES);
        this.#notify();
      });
    }
  }

  #since(at: number): string {
    return ((at - this.startedAt) / 1000).toFixed(3).padStart(8);
  }

  get pid(): number {
    return this.#pid;
  }

  /** Under /usr/bin/time the program is time's only child; find its PID so signals and /proc reach it. */
  async resolveInnerPid(timeoutMs = 3000): Promise<void> {
    const wrapper = this.child.pid ?? -1;
    const end = performance.now() + timeoutMs;
    while (performance.now() < end && this.exit === null) {
      try {
        const kids = readFileSync(`/proc/${wrapper}/task/${wrapper}/children`, 'utf8').trim().split(/\s+/);
        const first = Number(kids[0]);
        if (kids[0] && Number.isInteger(first)) {
          this.#pid = first;
          return;
        }
      } catch {
        // not forked yet, or already gone
      }
      await sleep(2);
    }
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves with the first line (past or future) matching `re`; rejects on exit or after timeoutMs. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<OutputLine> {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const check = (): void => {
        // lines may be trimmed from the front; rescan what is kept when that happened
        if (seen > this.lines.length) seen = 0;
        for (; seen < this.lines.length; seen++) {
          const l = this.lines[seen];
          if (l && re.test(l.line)) {
            done();
            resolve(l);
            return;
          }
        }
        if (this.exit) {
          done();
          reject(
            new Error(
              `${this.name} exited (${describeExit(this.exit)}) before printing ${re}; last output: ${this.tail(3)}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${this.name} did not print ${re} within ${Math.round(timeoutMs / 1000)} s; last output: ${this.tail(3)}`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Resolves on exit; rejects after timeoutMs. */
  waitExit(timeoutMs: number): Promise<ExitInfo> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${this.name} still running after ${Math.round(timeoutMs / 1000)} s; last output: ${this.tail(3)}`,
            ),
          ),
        timeoutMs,
      );
      this.exited.then((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }

  cpuSeconds(): number | null {
    return procCpuSeconds(this.#pid);
  }

  peakRssKiB(): number | null {
    return procPeakRssKiB(this.#pid);
  }

  /** The program's CPU and peak RSS as /usr/bin/time saw them (timed processes, after exit). */
  timeReport(): TimeReport | null {
    if (!this.timeFile) return null;
    try {
      return parseTimeReport(readFileSync(this.timeFile, 'utf8'));
    } catch {
      return null;
    }
  }

  tail(n: number): string {
    return this.lines
      .slice(-n)
      .map((l) => l.line)
      .join(' | ');
  }

  /** SIGTERM to the program (and its time wrapper), SIGKILL after graceMs. */
  async stop(graceMs = 4000): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    const wrapper = this.child.pid;
    signalPid(this.#pid, 'SIGTERM');
    const timer = setTimeout(() => {
      signalPid(this.#pid, 'SIGKILL');
      if (wrapper !== undefined && wrapper !== this.#pid) signalPid(wrapper, 'SIGKILL');
    }, graceMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  /** Last resort at process exit: no waiting possible. */
  killNow(): void {
    if (this.exit) return;
    signalPid(this.#pid, 'SIGKILL');
    if (this.child.pid !== undefined && this.child.pid !== this.#pid) signalPid(this.child.pid, 'SIGKILL');
  }
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

/** The processes of one scenario, so all of them can be stopped together and by PID only. */
export class ProcessGroup {
  readonly procs: Proc[] = [];
  #seq = 0;
  #closed = false;

  constructor(private readonly tmpDir: string) {}

  async start(name: string, cmd: string, args: string[], opts: StartOptions = {}): Promise<Proc> {
    // a scenario cut off by its time cap may still be running: it must not start anything more
    if (this.#closed) throw new Error(`not starting ${name}: this figure was stopped`);
    let timeFile: string | null = null;
    let file = cmd;
    let argv = args;
    if (opts.timed) {
      timeFile = join(this.tmpDir, `time-${++this.#seq}-${name.replace(/[^\w.-]/g, '_')}.txt`);
      file = '/usr/bin/time';
      argv = ['-o', timeFile, '-f', TIME_FORMAT, cmd, ...args];
    }
    const child = spawn(file, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: clientEnv(process.env, opts.env),
      cwd: opts.cwd,
    });
    const logFile = join(this.tmpDir, `${name.replace(/[^\w.-]/g, '_')}.log`);
    const proc = new Proc(name, child, timeFile, logFile);
    this.procs.push(proc);
    child.once('error', (err) => {
      proc.lines.push({ line: `spawn failed: ${err.message}`, at: performance.now() });
    });
    if (opts.timed) await proc.resolveInnerPid();
    return proc;
  }

  async stopAll(graceMs = 4000): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(graceMs)));
  }

  /** Stops everything and refuses to start more. */
  async close(graceMs = 4000): Promise<void> {
    this.#closed = true;
    await this.stopAll(graceMs);
  }

  killAllNow(): void {
    for (const p of this.procs) p.killNow();
  }
}

/**
 * Starts a program and waits until it prints `ready`. A program killed by a signal before that, a
 * crash in start-up (libtorrent 2.0.8 once died of SIGSEGV there in CI, before it listened), is
 * started once more and the run says so on stderr; a second crash, an exit with a code, or no
 * `ready` in time is an error as before.
 */
export async function startReady(
  start: (attempt: number) => Promise<Proc>,
  ready: RegExp,
  timeoutMs: number,
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<Proc> {
  const first = await start(1);
  try {
    await first.waitForLine(ready, timeoutMs);
    return first;
  } catch (err) {
    if (!first.exit?.signal) throw err;
    say(`${first.name} died of ${first.exit.signal} before it was ready; starting it once more`);
  }
  const second = await start(2);
  await second.waitForLine(ready, timeoutMs);
  return second;
}

/** Temp folders and process groups of the whole run, for cleanup on any exit path. */
export class Janitor {
  readonly groups = new Set<ProcessGroup>();
  readonly dirs = new Set<string>();
  keepFiles = false;

  async cleanup(): Promise<void> {
    await Promise.all([...this.groups].map((g) => g.close()));
    this.groups.clear();
    this.removeDirs();
  }

  /** For process 'exit': synchronous only. */
  cleanupNow(): void {
    for (const g of this.groups) g.killAllNow();
    this.removeDirs();
  }

  private removeDirs(): void {
    if (this.keepFiles) return;
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.clear();
  }
}
