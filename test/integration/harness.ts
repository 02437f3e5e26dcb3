/**
 * Real processes on loopback for integration tests: start the built `chunkswarm` CLI, wait for a line,
 * and stop (by PID) everything a test started, even when it fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'main.cjs');

export function requireBuild(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (npm test does)`);
}

export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited(timeoutMs?: number): Promise<number | null>;
  write(line: string): void;
}

export class Harness {
  readonly #procs: ChildProcess[] = [];
  dir = '';

  async setup(): Promise<string> {
    requireBuild();
    this.dir = await mkdtemp(join(tmpdir(), 'chunkswarm-it-'));
    return this.dir;
  }

  /** Runs `chunkswarm ...args`; stdin stays a pipe the test may write to. */
  cs(args: string[], opts: { stdin?: 'pipe' | 'ignore'; env?: NodeJS.ProcessEnv } = {}): Proc {
    return this.spawn(process.execPath, [BIN, ...args], opts);
  }

  spawn(
    cmd: string,
    args: string[],
    opts: { stdin?: 'pipe' | 'ignore'; env?: NodeJS.ProcessEnv } = {},
  ): Proc {
    const child = spawn(cmd, args, {
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    this.#procs.push(child);
    let out = '';
    const waiters = new Set<() => void>();
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const w of [...waiters]) w();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // 'close', not 'exit': it comes once the output pipes are drained too. On a loaded machine a process
    // could be seen to exit before its last line of stderr was read (a refusal then looked silent).
    const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    child.once('exit', () => {
      for (const w of [...waiters]) w();
    });
    return {
      child,
      output: () => out,
      write: (line) => child.stdin!.write(`${line}\n`),
      waitFor: (pattern, timeoutMs = 20_000) =>
        new Promise((resolve, reject) => {
          const check = (): void => {
            const m = pattern.exec(out);
            if (m) {
              done();
              resolve(m);
            } else if (child.exitCode !== null) {
              done();
              reject(new Error(`process exited (${child.exitCode}) before printing ${pattern}:\n${out}`));
            }
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}`));
          }, timeoutMs);
          const done = (): void => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          waiters.add(check);
          check();
        }),
      exited: (timeoutMs = 30_000) =>
        Promise.race([
          exit,
          new Promise<number | null>((_, reject) =>
            setTimeout(
              () => reject(new Error(`still running after ${timeoutMs} ms:\n${out}`)),
              timeoutMs,
            ).unref(),
          ),
        ]),
    };
  }

  async tracker(extra: string[] = []): Promise<{ proc: Proc; announce: string }> {
    const proc = this.cs(['tracker', '--port', '0', ...extra]);
    const m = await proc.waitFor(/tracker listening on (http:\/\/\S+\/announce)/);
    return { proc, announce: m[1]! };
  }

  async teardown(): Promise<void> {
    for (const p of this.#procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    for (const p of this.#procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** Reproducible random bytes written to `path`. */
export async function makeFile(path: string, bytes: number, seed: string): Promise<Buffer> {
  const out = Buffer.alloc(bytes);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < bytes; off += 32) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, out);
  return out;
}

export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}
