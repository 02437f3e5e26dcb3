import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LIMITS } from '../../src/shared/limits.js';
import { encodeBytes } from '../../src/tracker/protocol/index.js';
import { startTracker, type TrackerHandle } from '../../src/tracker/server/index.js';
import { TrackerWeb } from '../../src/web/tracker-web.js';
import type { TrackerState } from '../../src/web/types.js';
import { announceQuery, dict, failureOf, hash } from '../tracker/helpers.js';
import { call, makeTorrent, nextEvent, pagePost, pageToken } from './helpers.js';

let tracker: TrackerHandle;
let web: TrackerWeb;
let dir: string;
const warnings: string[] = [];
const folderTorrent = makeTorrent('from-folder.bin', Buffer.alloc(40_000, 7));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cs-web-tracker-'));
  await writeFile(join(dir, 'good.torrent'), folderTorrent.bytes);
  await writeFile(join(dir, 'broken.torrent'), 'd4:infoi1ee');
  await writeFile(join(dir, 'ignored.txt'), 'not a torrent');
  let w: TrackerWeb | undefined;
  tracker = await startTracker({ port: 0, onEvent: (e) => w?.onTrackerEvent(e) });
  web = new TrackerWeb(tracker, { torrentsDir: dir, onWarning: (m) => warnings.push(m) });
  w = web;
  await web.start();
});

after(async () => {
  web.close();
  await tracker.close();
  await rm(dir, { recursive: true, force: true });
});

const hex = (n: number) => hash(n).toString('hex');
const announce = (query: string, host?: string) =>
  call(tracker.port, { path: `/announce?${query}`, headers: host ? { Host: host } : {} });
const state = async () => (await call(tracker.port, { path: '/api/state' })).json<TrackerState>();
const swarmOf = (s: TrackerState, h: string) => s.swarms.find((x) => x.infoHash === h);

test('the --torrents folder names its swarms; an unreadable file is reported, not fatal', async () => {
  const s = await state();
  const sw = swarmOf(s, folderTorrent.meta.infoHashHex);
  assert.ok(sw, 'a registered torrent is listed even before any peer announces');
  assert.equal(sw.name, 'from-folder.bin');
  assert.equal(sw.nameFrom, 'torrent');
  assert.equal(sw.hasTorrent, true);
  assert.equal(sw.pieces, folderTorrent.meta.pieceCount);
  assert.equal(s.registered, 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /broken\.torrent/);
  const file = await call(tracker.port, { path: `/torrents/${folderTorrent.meta.infoHashHex}.torrent` });
  assert.equal(file.status, 200);
  assert.equal(file.headers['content-type'], 'application/x-bittorrent');
  assert.ok(file.body.equals(folderTorrent.bytes));
  assert.match(String(file.headers['content-disposition']), /filename="from-folder\.bin\.torrent"/);
  assert.equal((await call(tracker.port, { path: `/torrents/${'0'.repeat(40)}.torrent` })).status, 404);
});

test('a swarm shows its counts, the name peers sent, its peer set and chunk availability', async () => {
  // 10 chunks: peer 1 holds 0-7 (bitfield ff 00), peer 2 holds 0-3 (f0 00), peer 3 is a seeder that sent only left=0.
  const bf = (bytes: number[]) => Buffer.from(bytes).toString('base64url');
  const name = encodeURIComponent('<b>lecture</b>.bin');
  assert.equal(
    failureOf(
      (
        await announce(
          announceQuery(
            1,
            1,
            `&left=100&uploaded=5&downloaded=7&cs_pieces=10&cs_bitfield=${bf([0xff, 0x00])}&cs_name=${name}`,
          ),
        )
      ).body,
    ),
    undefined,
  );
  await announce(announceQuery(1, 2, `&left=200&cs_pieces=10&cs_bitfield=${bf([0xf0, 0x00])}`));
  await announce(announceQuery(1, 3, '&left=0'));
  const sw = swarmOf(await state(), hex(1));
  assert.ok(sw);
  assert.equal(sw.name, '<b>lecture</b>.bin', 'names are data: escaped where rendered, never here');
  assert.equal(sw.nameFrom, 'announce');
  assert.equal(sw.seeders, 1);
  assert.equal(sw.leechers, 2);
  assert.equal(sw.completed, 0);
  assert.equal(sw.hasTorrent, false);
  assert.match(
    sw.magnet,
    new RegExp(`^magnet:\\?xt=urn:btih:${hex(1)}&dn=%3Cb%3Electure%3C%2Fb%3E\\.bin&tr=http`),
  );
  assert.equal(sw.peers.length, 3);
  assert.equal(sw.peers[0]!.seeder, true, 'seeders first');
  const p1 = sw.peers.find((p) => p.address.endsWith(':6001'))!;
  assert.equal(p1.client, 'chunkswarm 0001');
  assert.equal(p1.have, 8);
  assert.equal(p1.progress, 0.8);
  assert.equal(p1.uploaded, 5);
  assert.equal(p1.downloaded, 7);
  assert.deepEqual(sw.availability, {
    cells: [3, 3, 3, 3, 2, 2, 2, 2, 1, 1],
    chunksPerCell: 1,
    peersCounted: 3,
    peersUnknown: 0,
  });
});

test('a registered .torrent renames a swarm peers named first', async () => {
  const t = makeTorrent('real-name.bin', Buffer.alloc(50_000, 3));
  const h = t.meta.infoHashHex;
  await announce(
    `info_hash=${encodeBytes(t.meta.infoHash)}&peer_id=-CS0001-000000000009&port=7000&left=10&cs_name=peer-name`,
  );
  assert.equal(swarmOf(await state(), h)?.name, 'peer-name');
  const token = await pageToken(tracker.port);
  const up = await pagePost(tracker.port, '/api/torrents', token, t.bytes, 'application/x-bittorrent');
  assert.equal(up.status, 200, up.body.toString());
  assert.deepEqual(up.json(), { infoHash: h, name: 'real-name.bin' });
  const sw = swarmOf(await state(), h)!;
  assert.equal(sw.name, 'real-name.bin');
  assert.equal(sw.nameFrom, 'torrent');
  assert.equal(sw.size, 50_000);
  assert.equal(sw.peers[0]!.progress, 1 - 10 / 50_000, 'progress from left once the size is known');
});

test('uploads: bad bytes are a 400 with the parser reason; a declared size over the cap is a 413 at once', async () => {
  const token = await pageToken(tracker.port);
  const bad = await pagePost(
    tracker.port,
    '/api/torrents',
    token,
    'this is not bencode',
    'application/x-bittorrent',
  );
  assert.equal(bad.status, 400);
  assert.match(bad.json().error as string, /.+/);
  // Only the headers claim the size: the answer comes before any body is read (or sent).
  const tooBig = await call(tracker.port, {
    method: 'POST',
    path: '/api/torrents',
    headers: {
      Origin: `http://127.0.0.1:${tracker.port}`,
      'X-Chunkswarm-Token': token,
      'Content-Length': String(LIMITS.webUploadBytes + 1),
    },
  });
  assert.equal(tooBig.status, 413);
  assert.match(tooBig.json().error as string, new RegExp(`${LIMITS.webUploadBytes}-byte limit`));
});

test('state-changing requests: a missing or wrong token gets 403 and the token; a foreign Origin gets 403 alone', async () => {
  const t = makeTorrent('csrf.bin', Buffer.alloc(20_000, 1));
  const token = await pageToken(tracker.port);
  const none = await call(tracker.port, { method: 'POST', path: '/api/torrents', body: t.bytes });
  assert.equal(none.status, 403);
  assert.equal(none.json().token, token);
  assert.equal(none.headers['x-chunkswarm-token'], token);
  const wrong = await pagePost(tracker.port, '/api/torrents', 'wrong', t.bytes);
  assert.equal(wrong.status, 403);
  assert.equal(wrong.json().token, token);
  const foreign = await call(tracker.port, {
    method: 'POST',
    path: '/api/torrents',
    body: t.bytes,
    headers: { Origin: 'http://evil.example', 'X-Chunkswarm-Token': token },
  });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.json().token, undefined);
  assert.equal(swarmOf(await state(), t.meta.infoHashHex), undefined, 'nothing was registered');
});

test('a foreign Host is refused on the page, not on /announce or /scrape', async () => {
  for (const path of ['/', '/api/state', '/events', '/assets/tracker.js']) {
    const r = await call(tracker.port, { path, headers: { Host: 'evil.example:6969' } });
    assert.equal(r.status, 403, path);
  }
  const a = await announce(announceQuery(5, 1, '&left=0'), 'evil.example');
  assert.equal(a.status, 200);
  assert.equal(failureOf(a.body), undefined);
  const s = await call(tracker.port, { path: `/scrape`, headers: { Host: 'evil.example' } });
  assert.equal(s.status, 200);
  assert.ok(dict(s.body).get('files') instanceof Map);
});

test('the page: HTML with the request token, the bundle, and nothing else from disk', async () => {
  const page = await call(tracker.port);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.match(
    page.body.toString(),
    /<script src="\/assets\/tracker\.js"><\/script>|The dashboard is not built/,
  );
  assert.equal((await call(tracker.port, { path: '/assets/../../package.json' })).status, 404);
  assert.equal((await call(tracker.port, { path: '/assets/%2e%2e%2fpackage.json' })).status, 404);
  assert.equal((await call(tracker.port, { path: '/nothing' })).status, 404);
  assert.equal((await call(tracker.port, { method: 'DELETE', path: '/api/state' })).status, 405);
});

test('the event stream pushes new counts when a leecher completes', async () => {
  const h = hex(9);
  await announce(announceQuery(9, 1, '&left=0'));
  await announce(announceQuery(9, 2, '&left=500&event=started'));
  const done = nextEvent<TrackerState>(
    tracker.port,
    (s) => {
      const sw = swarmOf(s, h);
      return sw !== undefined && sw.seeders === 2 && sw.completed === 1;
    },
    {
      onOpen: () => {
        announce(announceQuery(9, 2, '&left=0&event=completed')).catch(() => {});
      },
    },
  );
  const s = await done;
  assert.equal(swarmOf(s, h)!.leechers, 0);
});

test('with an access token, the page asks for it; ?token= sets a cookie and leads back to /', async () => {
  const t2 = await startTracker({ port: 0 });
  const w2 = new TrackerWeb(t2, { accessToken: 'let-me-in' });
  try {
    await w2.start();
    assert.equal((await call(t2.port)).status, 401);
    assert.equal((await call(t2.port, { path: '/api/state' })).status, 401);
    const wrong = await call(t2.port, { path: '/?token=nope' });
    assert.equal(wrong.status, 401);
    const ok = await call(t2.port, { path: '/?token=let-me-in' });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.location, '/');
    const cookie = String(ok.headers['set-cookie']?.[0]);
    assert.match(cookie, new RegExp(`^cs_access_${t2.port}=let-me-in; HttpOnly; SameSite=Strict; Path=/$`));
    const withCookie = await call(t2.port, {
      path: '/api/state',
      headers: { Cookie: cookie.split(';')[0]! },
    });
    assert.equal(withCookie.status, 200);
    // The tracker itself never asks for the page's token.
    assert.equal((await call(t2.port, { path: `/announce?${announceQuery(1, 1)}` })).status, 200);
  } finally {
    w2.close();
    await t2.close();
  }
});
