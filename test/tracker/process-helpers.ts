/**
 * A real `chunkswarm tracker` process (run from the TypeScript sources through tsx, so no build is
 * needed) and raw-socket exchanges with it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

export interface TrackerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** Stops it if it still runs (SIGKILL: these tests care only that it is gone). */
  stop(): Promise<void>;
}

export async function spawnTracker(args: string[], env: NodeJS.ProcessEnv = {}): Promise<TrackerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'tracker', '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tracker did not start within 30 s:\n${out}`));
    }, 30_000);
    const check = () => {
      const m = /tracker listening on http:\/\/127\.0\.0\.1:(\d+)\/announce/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tracker exited (${code}) before listening:\n${out}`));
    });
  });
  return {
    child,
    port,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Reply {
  /** Everything the server sent before it closed. */
  readonly raw: Buffer;
  /** The client gave up waiting (the server neither answered nor closed). */
  readonly timedOut: boolean;
}

/**
 * Opens a connection, runs `send` on it, and collects what comes back until the server closes the
 * connection or `timeoutMs` passes. `send` may write in pieces, over time, or half-close.
 */
export function exchange(
  port: number,
  send: string | Buffer | ((sock: import('node:net').Socket) => void),
  timeoutMs = 5000,
): Promise<Reply> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    // A reset after the answer is the server closing with our unread bytes: the answer counts.
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks), timedOut });
    });
    sock.on('connect', () => {
      if (typeof send === 'function') send(sock);
      else sock.write(send);
    });
  });
}

export interface HttpReply {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

/** Splits the first HTTP response of `raw`; undefined when it is not one. */
export function parseHttp(raw: Buffer): HttpReply | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = headers.get('content-length');
  const body = length === undefined ? raw.subarray(end + 4) : raw.subarray(end + 4, end + 4 + Number(length));
  return { status: Number(m[1]), headers, body };
}
