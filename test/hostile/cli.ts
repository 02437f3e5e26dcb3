/**
 * Starting the chunkswarm CLI for hostile tests. CHUNKSWARM_BIN may name another build of
 * `dist/cli/main.cjs` (a private build, while the shared dist/ is being rebuilt by someone else).
 */
import { BIN, type Harness, type Proc } from '../integration/harness.js';

export const CLI = process.env.CHUNKSWARM_BIN || BIN;

export interface CliProc extends Proc {
  /** What the process wrote to stderr alone (output() has both streams). */
  stderr(): string;
}

export function cs(h: Harness, args: string[]): CliProc {
  const proc = h.spawn(process.execPath, [CLI, ...args]);
  let err = '';
  // Attached before the event loop turns, so no chunk is missed.
  proc.child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return { ...proc, stderr: () => err };
}

export async function startTracker(h: Harness, extra: string[] = []): Promise<string> {
  const proc = cs(h, ['tracker', '--port', '0', ...extra]);
  const m = await proc.waitFor(/tracker listening on (http:\/\/\S+\/announce)/);
  return m[1]!;
}

/** `seed` on a free port; resolves with the port once it prints its `seeding` line. */
export async function startSeed(
  h: Harness,
  torrent: string,
  data: string,
  extra: string[] = [],
): Promise<{ proc: CliProc; port: number }> {
  const proc = cs(h, ['seed', torrent, '--data', data, '--port', '0', ...extra]);
  const m = await proc.waitFor(/^seeding \S+ on 127\.0\.0\.1:(\d+)/m);
  return { proc, port: Number(m[1]) };
}

export async function createTorrent(
  h: Harness,
  content: string,
  announce: string,
  out: string,
  pieceLength = 65536,
): Promise<void> {
  const c = cs(h, [
    'create',
    content,
    '--tracker',
    announce,
    '--piece-length',
    String(pieceLength),
    '-o',
    out,
  ]);
  const code = await c.exited();
  if (code !== 0) throw new Error(`create exited ${code}:\n${c.output()}`);
}
