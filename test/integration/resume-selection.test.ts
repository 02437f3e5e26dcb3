/**
 * A download resumed with another selection: the resume record says where the last run left each byte
 * (in the chosen files, or in the part file), so the bytes a newly chosen file already has move out of the
 * part file instead of being fetched again, and every file ends byte-identical.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { courseSwarm, tree } from './course.js';
import { Harness, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('resumed with a wider selection, then with none: held bytes move, nothing is fetched twice', async () => {
  // 0 a.bin (chunks 0-4), 1 c.bin (chunks 4-8), 2 notes/b.txt (chunks 8-11) of 64 KiB.
  const { root, torrent } = await courseSwarm(h);
  const out = join(h.dir, 'out');
  const run = async (extra: string[]): Promise<string> => {
    const p = h.cs(['download', torrent, '--out', out, '--port', '0', ...extra]);
    assert.equal(await p.exited(60_000), 0, p.output());
    return p.output();
  };

  // Chunk 8 holds the end of c.bin and the start of notes/b.txt: its c.bin bytes go to the part file.
  const one = await run(['--select', '2']);
  assert.match(one, /downloaded 225723 B/, 'chunks 8-11 (the last one 29115 bytes)');
  assert.deepEqual(await tree(out), ['course/notes/b.txt']);

  // c.bin joins: chunk 8's bytes move into it from the part file; only chunks 4-7 are fetched.
  const two = await run(['--select', '1,2']);
  assert.match(two, /resuming: 4 of 12 chunks already verified \(course, as recorded when it stopped\)/);
  assert.match(two, /downloaded 262144 B/, 'chunks 4-7, not chunk 8 again');
  assert.deepEqual(await tree(out), ['course/c.bin', 'course/notes/b.txt']);
  assert.ok(await sameBytes(join(root, 'c.bin'), join(out, 'course', 'c.bin')));

  // No selection at all: the rest (chunks 0-3) is fetched, and every file is whole.
  const three = await run([]);
  assert.match(three, /resuming: 8 of 12 chunks already verified \(course, as recorded when it stopped\)/);
  assert.match(three, /downloaded 262144 B/, 'chunks 0-3');
  assert.deepEqual(await tree(out), ['course/a.bin', 'course/c.bin', 'course/notes/b.txt']);
  for (const f of ['a.bin', 'c.bin', join('notes', 'b.txt')])
    assert.ok(await sameBytes(join(root, f), join(out, 'course', f)), f);
});
