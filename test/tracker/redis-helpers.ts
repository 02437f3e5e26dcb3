/**
 * A real `redis-server` (Debian's package) on loopback for the Redis store tests: started on a
 * random high port with its own folder, stopped by its PID. Redis cannot pick a free port itself
 * (`--port 0` turns TCP off), so a port the kernel just handed out is tried, a few times over.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { needPackages } from '../interop/gate.js';

export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  /** `redis://127.0.0.1:PORT/DB` */
  url(db?: number): string;
  /** The running process's PID (changes on restart). */
  pid(): number;
  /** Kills it with `signal` and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and folder (its append-only file is read back). */
  restart(): Promise<void>;
  /** Kills it (if running) and removes its folder. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Every write in the append-only file, fsynced before Redis answers (default false: no persistence). */
  readonly durable?: boolean;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Starts redis-server, or skips the test (fails under CI=true) when the package is missing. */
export async function startRedis(
  t: TestContext,
  opts: RedisServerOptions = {},
): Promise<RedisServer | undefined> {
  if (!needPackages(t, 'redis-server')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'chunkswarm-redis-'));
  let child: ChildProcess | undefined;
  let port = 0;
  const args = () => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.durable ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--daemonize',
    'no',
    '--loglevel',
    'notice',
  ];
  const launch = () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const c = spawn('redis-server', args(), { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new Error(`redis-server did not start in 10 s:\n${out}`));
      }, 10_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          c.stdout!.off('data', onData);
          c.stdout!.resume();
          resolve(c);
        }
      };
      c.stdout!.on('data', onData);
      c.stderr!.resume();
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`));
      });
    });
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      child = await launch();
      break;
    } catch (err) {
      if (attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    process.kill(c.pid!, signal);
    await gone;
  };
  const server: RedisServer = {
    port,
    dir,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    pid: () => child!.pid!,
    kill,
    async restart() {
      await kill();
      child = await launch();
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
