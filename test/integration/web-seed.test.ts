/**
 * BEP 19 web seeds with real processes: `create --web-seed` names a web server in the .torrent, and a
 * `download` with no peer at all fetches the files from it (an HTTP server on loopback, in this process).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { serveFolder } from '../session/range-server.js';
import { makeCourse, tree } from './course.js';
import { Harness, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('a download fetches a torrent from its web seed alone (create --web-seed, no tracker, no peer)', async () => {
  const root = join(h.dir, 'site', 'course');
  await makeCourse(root, 'web');
  // The web server holds the folder as it is on disk: /files/course/<path>, answering Range requests.
  const server = await serveFolder(join(h.dir, 'site'));
  after(() => server.close());
  const webSeed = server.url;
  const requests = server.requests;

  const torrent = join(h.dir, 'course.torrent');
  const create = h.cs([
    'create',
    root,
    '--no-tracker',
    '--web-seed',
    webSeed,
    '--piece-length',
    '65536',
    '-o',
    torrent,
  ]);
  assert.equal(await create.exited(), 0, create.output());
  const info = h.cs(['info', torrent]);
  assert.equal(await info.exited(), 0, info.output());
  assert.match(info.output(), new RegExp(`^web seeds: +${webSeed.replace(/[./]/g, '\\$&')} `, 'm'));

  const out = join(h.dir, 'out');
  const dl = h.cs(['download', torrent, '--out', out, '--port', '0', '--no-dht']);
  assert.equal(await dl.exited(60_000), 0, dl.output());
  assert.match(dl.output(), /^course: web seeds \(BEP 19\): http:\/\/127\.0\.0\.1:\d+\/files\/$/m);
  assert.match(dl.output(), /^complete course\b/m);
  assert.deepEqual(await tree(out), await tree(join(h.dir, 'site')));
  for (const f of await tree(join(h.dir, 'site')))
    assert.ok(await sameBytes(join(h.dir, 'site', f), join(out, f)), f);
  assert.ok(requests.length > 0 && requests.every((r) => r.startsWith('bytes=')), 'every request a range');
});
