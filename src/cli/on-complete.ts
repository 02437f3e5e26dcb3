import { spawn } from 'node:child_process';
import { describeError } from '../shared/errors.js';

/** A torrent whose selected files are all verified, as `--on-complete` describes it to the command. */
export interface CompletedTorrent {
  readonly name: string;
  readonly infoHashHex: string;
  /** Where the torrent's content is on disk: `<out>/<name>` (a file or a folder). */
  readonly path: string;
}

/** Most bytes of the command's stderr kept for the failure line (its last line is shown). */
const STDERR_TAIL = 4096;

/**
 * The environment `--on-complete CMD` runs with: the caller's, plus the torrent's name, infohash
 * (40 lowercase hex) and content path under two sets of names, `CHUNKSWARM_NAME` / `_INFOHASH` /
 * `_PATH` and the plain `TORRENT_NAME` / `TORRENT_HASH` / `TORRENT_PATH` (Transmission's
 * `TR_TORRENT_*` names without the prefix, so scripts written for it need little change).
 */
export function onCompleteEnv(t: CompletedTorrent, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    CHUNKSWARM_NAME: t.name,
    CHUNKSWARM_INFOHASH: t.infoHashHex,
    CHUNKSWARM_PATH: t.path,
    TORRENT_NAME: t.name,
    TORRENT_HASH: t.infoHashHex,
    TORRENT_PATH: t.path,
  };
}

/**
 * Runs `--on-complete CMD` for a finished torrent through `/bin/sh -c`, in the background: the
 * download never waits for it. The command's stdin and stdout are not connected (its output would
 * tear the progress bars); a non-zero exit, a signal or a failure to start is logged as one line
 * with the end of its stderr. The torrent's details travel only in the environment, never in the
 * command text, so a torrent name cannot inject shell syntax. The promise (for tests and for a
 * command that wants to wait at exit) resolves with the exit code, or null; it never rejects.
 */
export function runOnComplete(
  command: string,
  torrent: CompletedTorrent,
  log: (line: string) => void,
  opts: { env?: NodeJS.ProcessEnv; shell?: string } = {},
): Promise<number | null> {
  return new Promise((resolve) => {
    const label = `on-complete for ${torrent.name}`;
    let tail = '';
    let settled = false;
    const finish = (code: number | null) => {
      if (settled) return;
      settled = true;
      resolve(code);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(opts.shell ?? '/bin/sh', ['-c', command], {
        env: onCompleteEnv(torrent, opts.env),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (err) {
      log(`${label}: cannot start the command: ${describeError(err)}`);
      finish(null);
      return;
    }
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-STDERR_TAIL);
    });
    child.on('error', (err) => {
      log(`${label}: cannot start the command: ${describeError(err)}`);
      finish(null);
    });
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const last = tail.trim().split('\n').at(-1)?.trim();
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        log(`${label}: the command ${how}${last ? `: ${last}` : ''}`);
      }
      finish(code);
    });
  });
}
