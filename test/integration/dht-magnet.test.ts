/**
 * A trackerless swarm through chunkswarm's own DHT nodes (BEP 5): a bare `chunkswarm dht` node as the
 * class's bootstrap, a seeder of a torrent made with `create --no-tracker`, and a download of its magnet
 * link (`xt` alone) — byte-identical, with nothing but loopback contacted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, Harness, makeFile, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('a trackerless magnet is downloaded byte-identical through chunkswarm DHT nodes', async () => {
  const port = await freePort();
  const boot = h.cs(['dht', '--port', String(port)]);
  await boot.waitFor(/^dht node listening on udp:\/\/127\.0\.0\.1:\d+$/m);
  const bootstrap = `127.0.0.1:${port}`;

  const source = join(h.dir, 'notes.bin');
  await makeFile(source, 2 * 1024 * 1024 + 333, 'dht');
  const torrent = join(h.dir, 'notes.torrent');
  const create = h.cs(['create', source, '--no-tracker', '--piece-length', '262144', '-o', torrent]);
  assert.equal(await create.exited(), 0, create.output());
  const magnet = /^magnet:\?xt=urn:btih:[0-9a-f]{40}&dn=notes\.bin$/m.exec(create.output())![0];

  const seed = h.cs(['seed', torrent, '--data', source, '--port', '0', '--dht-bootstrap', bootstrap], {
    env: { XDG_STATE_HOME: join(h.dir, 'state') },
  });
  await seed.waitFor(/^seeding /m);
  const out = join(h.dir, 'out');
  const download = h.cs([
    'download',
    magnet.replace(/&dn=.*/, ''),
    '--out',
    out,
    '--port',
    '0',
    '--dht-bootstrap',
    bootstrap,
  ]);
  assert.equal(await download.exited(90_000), 0, download.output());
  assert.match(download.output(), /^complete notes\.bin /m);
  assert.ok(await sameBytes(source, join(out, 'notes.bin')));
  // The routing table is kept under --out for the next run.
  const again = h.cs(['download', magnet, '--out', out, '--port', '0']);
  assert.equal(await again.exited(30_000), 0, again.output());
  assert.match(again.output(), /dht node listening/, 'the saved table alone starts the DHT next time');
});

test('without a DHT node, a magnet with only an infohash is refused in one line', async () => {
  const r = h.cs([
    'download',
    `magnet:?xt=urn:btih:${'ab'.repeat(20)}`,
    '--out',
    join(h.dir, 'none'),
    '--port',
    '0',
  ]);
  assert.equal(await r.exited(), 2);
  assert.match(r.output(), /no DHT node is known: add one of them, or --dht-bootstrap HOST:PORT/);
});
