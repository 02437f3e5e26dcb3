/**
 * What a new user's typos get: one line that names what is missing, exit code 2, and nothing else said
 * (a mistyped --data once read as data that matches nothing).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile, requireBuild } from '../integration/harness.js';

const h = new Harness();
let torrent = '';

before(async () => {
  requireBuild();
  await h.setup();
  await makeFile(join(h.dir, 'a.bin'), 40_000, 'a');
  torrent = join(h.dir, 'a.torrent');
  const c = h.cs(['create', join(h.dir, 'a.bin'), '--tracker', 'http://127.0.0.1:1/announce', '-o', torrent]);
  assert.equal(await c.exited(), 0, c.output());
});
after(() => h.teardown());

async function refused(args: string[]): Promise<string> {
  const p = h.cs(args);
  assert.equal(await p.exited(), 2, p.output());
  return p.output().trim();
}

test('a --data that does not exist is named as missing, not as data that matches nothing', async () => {
  const missing = join(h.dir, 'typo.bin');
  assert.equal(
    await refused(['seed', torrent, '--data', missing, '--port', '0']),
    `chunkswarm: --data ${missing}: no such file or directory (ENOENT)`,
  );
});

test('a torrent or a file to share that does not exist: its path and the reason, once each', async () => {
  const nope = join(h.dir, 'nope.torrent');
  assert.equal(
    await refused(['download', nope, '--out', join(h.dir, 'out')]),
    `chunkswarm: cannot read torrent ${nope}: no such file or directory (ENOENT)`,
  );
  const gone = join(h.dir, 'gone');
  assert.equal(
    await refused(['create', gone, '--tracker', 'http://127.0.0.1:1/announce']),
    `chunkswarm: cannot read ${gone}: no such file or directory (ENOENT)`,
  );
});
