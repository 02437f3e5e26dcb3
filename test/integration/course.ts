/**
 * A three-file torrent whose files straddle its 64 KiB chunks, for the file-selection tests: files by
 * path are 0 a.bin (chunks 0-4), 1 c.bin (chunks 4-8), 2 notes/b.txt (chunks 8-11).
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type Harness, makeFile } from './harness.js';

/** Writes the course's three files under `root` (their bytes differ with `seed`). */
export async function makeCourse(root: string, seed = 'course'): Promise<void> {
  await makeFile(join(root, 'a.bin'), 300_001, `${seed} a`);
  await makeFile(join(root, 'notes', 'b.txt'), 200_003, `${seed} b`);
  await makeFile(join(root, 'c.bin'), 250_007, `${seed} c`);
}

/** A tracker, the course's .torrent and a seeder of it; `root` is the seeded folder. */
export async function courseSwarm(h: Harness): Promise<{ root: string; torrent: string; infoHash: string }> {
  const root = join(h.dir, 'data', 'course');
  await makeCourse(root);
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'course.torrent');
  const create = h.cs(['create', root, '--tracker', announce, '--piece-length', '65536', '-o', torrent]);
  if ((await create.exited()) !== 0) throw new Error(create.output());
  const seed = h.cs(['seed', torrent, '--data', root, '--port', '0']);
  await seed.waitFor(/^seeding /m);
  return { root, torrent, infoHash: create.output().split('\n')[0]!.trim() };
}

/** Every file under `dir`, relative, sorted; the .chunkswarm state folder left out. */
export async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = relative(dir, join(e.parentPath, e.name));
    if (e.isFile() && !path.startsWith('.chunkswarm')) out.push(path);
  }
  return out.sort();
}
