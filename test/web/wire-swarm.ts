/**
 * A seeder and a `chunkswarm peer` shell started with `--web 127.0.0.1:0 --trace`, as the Wire panel's
 * test and its screenshot use them: real processes on loopback.
 */
import { join } from 'node:path';
import type { Harness, Proc } from '../integration/harness.js';
import { makeFile } from '../integration/harness.js';

/** Chunks of two 16 KiB blocks, so one chunk is two REQUESTs and two PIECEs. */
export const WIRE_CHUNK = 32 * 1024;

export interface WireSwarm {
  readonly seed: Proc;
  readonly peer: Proc;
  /** `ip:port` of the seeder, as the shell names it. */
  readonly seeder: string;
  /** The shell's page. */
  readonly url: string;
}

export async function startWireSwarm(h: Harness, name: string): Promise<WireSwarm> {
  const tracker = await h.tracker(['--interval', '5']);
  const data = join(h.dir, 'data', name);
  await makeFile(data, 6 * WIRE_CHUNK + 1000, name);
  const torrent = join(h.dir, `${name}.torrent`);
  const create = h.cs([
    'create',
    data,
    '--tracker',
    tracker.announce,
    '--piece-length',
    String(WIRE_CHUNK),
    '-o',
    torrent,
  ]);
  if ((await create.exited()) !== 0) throw new Error(create.output());
  const seed = h.cs(['seed', torrent, '--data', data, '--port', '0']);
  const seeder = (await seed.waitFor(/^seeding \S+ on (127\.0\.0\.1:\d+)/m))[1]!;
  const peer = h.cs(
    ['peer', torrent, '--dir', join(h.dir, `mem-${name}`), '--port', '0', '--web', '127.0.0.1:0', '--trace'],
    { stdin: 'pipe' },
  );
  const url = (await peer.waitFor(/web page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
  return { seed, peer, seeder, url };
}

/** `/connect_peer` to the seeder, then `/request_download` of chunk `chunk`, through the shell's stdin. */
export async function fetchChunk(s: WireSwarm, chunk: number): Promise<void> {
  s.peer.write(`/connect_peer ${s.seeder}`);
  await s.peer.waitFor(/established connection to/);
  s.peer.write(`/request_download ${s.seeder} ${chunk}`);
  await s.peer.waitFor(new RegExp(`Chunk ${chunk} received and verified`));
}
