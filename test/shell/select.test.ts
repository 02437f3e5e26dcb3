/**
 * The shell's `/select` in a real `chunkswarm peer` process: it lists the files, and a new selection
 * changes what `/auto_download` fetches while the process runs; `/merge_chunks` then writes only the
 * chosen files (chunks shared with a left-out file stay whole in the memory folder).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { courseSwarm, tree } from '../integration/course.js';
import { Harness, sameBytes } from '../integration/harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('/select lists the files and changes the selection live; only chosen files are merged', async () => {
  // 0 a.bin, 1 c.bin, 2 notes/b.txt (ordered by path); sizes straddle the 64 KiB chunks.
  const { root, torrent } = await courseSwarm(h);
  const p = h.cs(['peer', torrent, '--dir', join(h.dir, 'mem'), '--port', '0'], { stdin: 'pipe' });
  const out1 = join(h.dir, 'out1');
  const out2 = join(h.dir, 'out2');
  for (const line of [
    '/select',
    '/select 9',
    '/select 2',
    '/connect_tracker',
    '/auto_download',
    '/see_current_chunks',
    `/merge_chunks ${out1}`,
    '/select 0,2',
    '/auto_download',
    '/select',
    `/merge_chunks ${out2}`,
    '/quit_torrent',
  ])
    p.write(line);
  p.child.stdin!.end();
  assert.equal(await p.exited(60_000), 0, p.output());
  const out = p.output();

  assert.match(out, /Files \(3 of 3 selected\):\n {2}\[0\] yes +293\.0 KiB +0% +a\.bin\n/);
  assert.match(out, /^ {2}\[2\] yes +195\.3 KiB +0% +notes\/b\.txt$/m);
  assert.match(out, /Invalid command — type \/help \(\/select: file 9 does not exist/);
  // notes/b.txt is bytes 550008..750010: chunks 8 to 11 of 12.
  assert.match(out, /Selected 1 of 3 files; 4 chunks of them still missing/);
  assert.match(out, /Automatic download started: 4 chunks to fetch/);
  assert.match(out, /Holding 4 of 12 chunks; 8 missing/);
  assert.deepEqual(await tree(out1), ['course/notes/b.txt']);
  assert.ok(await sameBytes(join(root, 'notes', 'b.txt'), join(out1, 'course', 'notes', 'b.txt')));
  // a.bin is chunks 0 to 4; nothing of c.bin is fetched but what it shares with them.
  assert.match(out, /Selected 2 of 3 files; 5 chunks of them still missing/);
  assert.match(
    out,
    /Files \(2 of 3 selected\):\n {2}\[0\] yes +293\.0 KiB +100% +a\.bin\n {2}\[1\] no +244\.1 KiB +\d+% +c\.bin\n {2}\[2\] yes +195\.3 KiB +100% +notes\/b\.txt/,
  );
  assert.match(out, /Merge complete! .*\(2 of 3 files, every chunk SHA-1 verified\)/);
  assert.deepEqual(await tree(out2), ['course/a.bin', 'course/notes/b.txt']);
  assert.ok(await sameBytes(join(root, 'a.bin'), join(out2, 'course', 'a.bin')));
  assert.ok(await sameBytes(join(root, 'notes', 'b.txt'), join(out2, 'course', 'notes', 'b.txt')));
});
