import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Metainfo } from '../../src/metainfo/types.js';
import { Client } from '../../src/session/client.js';
import type { TorrentSession } from '../../src/session/session.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { LIMITS } from '../../src/shared/limits.js';
import { Shell } from '../../src/shell/shell.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { ShellTap } from '../../src/web/console.js';
import { chunkMap, type PeerWebHandle, startPeerWeb } from '../../src/web/peer-web.js';
import type { ConsoleReply, PeerPageState } from '../../src/web/types.js';
import { freePort } from '../integration/harness.js';
import { ScriptedSeeder } from '../magnet/helpers.js';
import { call, makeTorrent, nextEvent, pagePost, pageToken, type Reply } from './helpers.js';

let client: Client;
let web: PeerWebHandle;
let shellSession: TorrentSession;
let other: TorrentSession;
let token: string;
const added: Metainfo[] = [];
/** Metadata fetches the page holds the command for (download waits for them), and those released. */
const holds = { taken: 0, released: 0 };
const terminal: string[] = [];

const shellTorrent = makeTorrent('shell <b>one.bin', Buffer.alloc(100_000, 1));
const otherTorrent = makeTorrent('other.bin', Buffer.alloc(70_000, 2));

before(async () => {
  client = new Client({ port: 0 });
  await client.listen();
  const open = (meta: Metainfo, have: Bitfield) =>
    client.addSession({ metainfo: meta, storage: new MemoryStorage(meta), have, mode: 'auto' });
  shellSession = open(shellTorrent.meta, Bitfield.fromString('1010000'));
  other = open(otherTorrent.meta, new Bitfield(otherTorrent.meta.pieceCount));
  const tap = new ShellTap({ line: (text) => terminal.push(text) });
  const shell = new Shell({
    session: shellSession,
    me: `127.0.0.1:${client.port}`,
    out: tap.output,
    merge: undefined,
    chunkFileName: (i) => `chunk${i}`,
    quit: async () => {},
  });
  web = await startPeerWeb({
    client,
    command: 'peer',
    addTorrent: async (meta) => {
      added.push(meta);
      return open(meta, new Bitfield(meta.pieceCount));
    },
    holdWhileFetching: () => {
      holds.taken++;
      return () => holds.released++;
    },
    shell: { session: shellSession, run: (line) => tap.capture(() => shell.run(line)) },
  });
  token = await pageToken(web.port);
});

after(async () => {
  await web.close();
  await client.close({ announce: false });
});

const state = async () => (await call(web.port, { path: '/api/state' })).json<PeerPageState>();
const post = (path: string, body: unknown) => pagePost(web.port, path, token, JSON.stringify(body));

test('a loopback page needs no access token and reports every torrent', async () => {
  assert.equal(web.accessToken, undefined);
  assert.equal(web.generatedToken, false);
  assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const s = await state();
  assert.equal(s.command, 'peer');
  assert.equal(s.listen, `127.0.0.1:${client.port}`);
  assert.equal(s.addDisabled, null);
  const t = s.torrents.find((x) => x.infoHash === shellTorrent.meta.infoHashHex)!;
  assert.equal(t.name, 'shell <b>one.bin');
  assert.equal(t.pieceCount, 7);
  assert.equal(t.have, 2);
  assert.equal(t.done, 2 * 16 * 1024);
  assert.equal(t.map.cells, 'hmhmmmm');
  assert.equal(t.console, 'full');
  assert.equal(s.torrents.find((x) => x.infoHash === otherTorrent.meta.infoHashHex)!.console, 'read-only');
  const page = await call(web.port);
  assert.match(page.body.toString(), /<title>chunkswarm peer — shell &lt;b&gt;one\.bin, other\.bin<\/title>/);
});

test('pause and resume change the session and are pushed to open pages', async () => {
  const h = other.metainfo.infoHashHex;
  const pushed = nextEvent<PeerPageState>(
    web.port,
    (s) => s.torrents.some((t) => t.infoHash === h && t.paused),
    {
      onOpen: () => {
        pagePost(web.port, `/api/torrents/${h}/pause`, token, '').catch(() => {});
      },
    },
  );
  await pushed;
  assert.equal(other.paused, true);
  const r = await pagePost(web.port, `/api/torrents/${h}/resume`, token, '');
  assert.deepEqual(r.json(), { paused: false });
  assert.equal(other.paused, false);
  const missing = await pagePost(web.port, `/api/torrents/${'a'.repeat(40)}/pause`, token, '');
  assert.equal(missing.status, 400);
});

test('rate limits set the process-wide buckets; nonsense is refused', async () => {
  const r = await post('/api/limits', { upload: 100 * 1024, download: 0 });
  assert.equal(r.status, 200);
  assert.equal(client.uploadBucket.rate, 100 * 1024);
  assert.equal(client.downloadBucket.rate, 0);
  assert.deepEqual((await state()).limits, { upload: 100 * 1024, download: 0 });
  await post('/api/limits', { download: 5000 });
  assert.equal(client.uploadBucket.rate, 100 * 1024, 'a limit left out stays as it was');
  assert.equal(client.downloadBucket.rate, 5000);
  for (const bad of [{ upload: -1 }, { upload: 1.5 }, { download: '100' }, { upload: 2 ** 41 }]) {
    const b = await post('/api/limits', bad);
    assert.equal(b.status, 400, JSON.stringify(bad));
    assert.match(b.json().error as string, /bytes per second/);
  }
  await post('/api/limits', { upload: 0, download: 0 });
});

test('adding a torrent opens it through the command; a duplicate, junk or oversize upload is refused', async () => {
  const t = makeTorrent('added.bin', Buffer.alloc(30_000, 9));
  const r = await pagePost(web.port, '/api/torrents', token, t.bytes, 'application/x-bittorrent');
  assert.equal(r.status, 200, r.body.toString());
  assert.deepEqual(r.json(), { infoHash: t.meta.infoHashHex, name: 'added.bin' });
  assert.equal(added.length, 1);
  assert.ok((await state()).torrents.some((x) => x.infoHash === t.meta.infoHashHex));
  const again = await pagePost(web.port, '/api/torrents', token, t.bytes, 'application/x-bittorrent');
  assert.equal(again.status, 400);
  assert.match(again.json().error as string, /already open/);
  const junk = await pagePost(web.port, '/api/torrents', token, 'd3:fooe', 'application/x-bittorrent');
  assert.equal(junk.status, 400);
  assert.match(junk.json().error as string, /not a usable \.torrent/);
  const big = await call(web.port, {
    method: 'POST',
    path: '/api/torrents',
    headers: { 'X-Chunkswarm-Token': token, 'Content-Length': String(LIMITS.webUploadBytes + 1) },
  });
  assert.equal(big.status, 413);
  assert.equal(added.length, 1);
});

test("a torrent's web seeds (BEP 19) are on the page, a failing one with its reason", async () => {
  const dead = await freePort();
  const t = makeTorrent('web seeded.bin', Buffer.alloc(30_000, 4), {
    webSeeds: [`http://127.0.0.1:${dead}/files/`],
  });
  const r = await pagePost(web.port, '/api/torrents', token, t.bytes, 'application/x-bittorrent');
  assert.equal(r.status, 200, r.body.toString());
  await until('the web seed to have failed once', async () => {
    const view = (await state()).torrents.find((x) => x.infoHash === t.meta.infoHashHex);
    const w = view?.webSeeds[0];
    return w?.state === 'retrying' && /connection refused/.test(w.lastError ?? '');
  });
  const view = (await state()).torrents.find((x) => x.infoHash === t.meta.infoHashHex)!;
  assert.equal(view.webSeeds[0]!.url, `http://127.0.0.1:${dead}/files/`);
  assert.match(
    view.waitingFor ?? '',
    /^no peers, and web seed http:\/\/127\.0\.0\.1:\d+\/files\/ failed: cannot reach/,
  );
});

/** Polls `check` until it holds (bounded, so a broken fetch fails the test instead of hanging it). */
async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('a magnet link is accepted at once, shown as fetching metadata, then opened with the peers it came from', async () => {
  const t = makeTorrent('from magnet.bin', Buffer.alloc(40_000, 5));
  const peer = await new ScriptedSeeder(t.meta.infoBytes, t.meta.infoHash, 'honest').listen();
  const gate = peer.hold();
  try {
    const hash = t.meta.infoHashHex;
    const uri = `magnet:?xt=urn:btih:${hash}&dn=${encodeURIComponent('from magnet.bin')}&x.pe=${peer.address}`;
    const before = added.length;
    // The page sees the fetch (pushed, not polled): connected to the peer, which offers the metadata.
    let reply: Promise<Reply> | undefined;
    const fetching = await nextEvent<PeerPageState>(
      web.port,
      (s) => s.fetching.some((f) => f.infoHash === hash && f.offering === 1),
      { onOpen: () => (reply = post('/api/magnet', { uri: ` ${uri} ` })) },
    );
    const r = await reply!;
    assert.equal(r.status, 202);
    assert.deepEqual(r.json(), {
      infoHash: hash,
      name: 'from magnet.bin',
      message: 'fetching metadata for from magnet.bin',
    });
    assert.deepEqual(
      fetching.fetching.find((f) => f.infoHash === hash),
      { infoHash: hash, name: 'from magnet.bin', connected: 1, offering: 1, error: null },
    );
    assert.ok(!fetching.torrents.some((x) => x.infoHash === hash));
    assert.equal(holds.taken - holds.released, 1, 'the command waits for the fetch');
    const twice = await post('/api/magnet', { uri });
    assert.equal(twice.status, 400);
    assert.match(twice.json().error as string, /already being fetched/);

    gate.open();
    await until('the torrent opened', () => added.length === before + 1);
    assert.equal(added[before]!.infoHashHex, hash);
    // The connection that brought the metadata goes on in the torrent's session: no second dial.
    const [ip, port] = peer.address.split(':');
    await until(
      'the peer adopted',
      () => client.sessions.get(hash)?.isConnectedTo(ip!, Number(port)) !== undefined,
    );
    const s = await state();
    assert.ok(s.torrents.some((x) => x.infoHash === hash && x.name === 'from magnet.bin'));
    // Its files are listed (and can be chosen) once the metadata is here.
    assert.deepEqual(s.torrents.find((x) => x.infoHash === hash)?.files, [
      {
        index: 0,
        path: 'from magnet.bin',
        size: 40_000,
        selected: true,
        done: 0,
        stream: `/stream/${hash}/0/from%20magnet.bin`,
      },
    ]);
    assert.ok(!s.fetching.some((f) => f.infoHash === hash));
    await until('the hold released', () => holds.taken === holds.released);
    const open = await post('/api/magnet', { uri });
    assert.equal(open.status, 400);
    assert.match(open.json().error as string, /from magnet\.bin is already open/);
  } finally {
    await peer.close();
  }
});

test('a fetch that fails stays on the page as one line: an unusable torrent, or no metadata in time', async () => {
  // Hashes right, so it is what the link names, but its file name would leave the download folder.
  const bad = Buffer.from('d6:lengthi16384e4:name2:..12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae');
  const badHash = createHash('sha1').update(bad).digest();
  const peer = await new ScriptedSeeder(bad, badHash, 'honest').listen();
  const before = added.length;
  try {
    const hex = badHash.toString('hex');
    const r = await post('/api/magnet', { uri: `magnet:?xt=urn:btih:${hex}&dn=evil&x.pe=${peer.address}` });
    assert.equal(r.status, 202);
    let error: string | null = null;
    await until('the failure on the page', async () => {
      error = (await state()).fetching.find((f) => f.infoHash === hex)?.error ?? null;
      return error !== null;
    });
    assert.match(error!, /^the torrent of magnet evil is not usable: .*unsafe path/);
    assert.doesNotMatch(error!, /\n/);
    assert.equal(added.length, before, 'nothing opened');
    await until('the hold released', () => holds.taken === holds.released);
  } finally {
    await peer.close();
  }

  // A page with a short deadline: a peer address where nobody answers.
  const c3 = new Client({ port: 0 });
  await c3.listen();
  const w3 = await startPeerWeb({
    client: c3,
    command: 'download',
    addTorrent: () => assert.fail('nothing to add'),
    metadataTimeoutMs: 1000,
  });
  try {
    const t3 = await pageToken(w3.port);
    const hash = 'ef'.repeat(20);
    const uri = `magnet:?xt=urn:btih:${hash}&dn=gone&x.pe=127.0.0.1:${await freePort()}`;
    const r = await pagePost(w3.port, '/api/magnet', t3, JSON.stringify({ uri }));
    assert.equal(r.status, 202);
    const failed = await nextEvent<PeerPageState>(w3.port, (s) => s.fetching.some((f) => f.error !== null), {
      timeoutMs: 10_000,
    });
    assert.match(failed.fetching[0]!.error!, /^no peer sent the metadata of gone within 1 s/);
    // A failed link can be tried again: it takes the old entry's place.
    const again = await pagePost(w3.port, '/api/magnet', t3, JSON.stringify({ uri }));
    assert.equal(again.status, 202);
    const s = (await call(w3.port, { path: '/api/state' })).json<PeerPageState>();
    assert.deepEqual(
      s.fetching.map((f) => [f.infoHash, f.error]),
      [[hash, null]],
    );
  } finally {
    await w3.close();
    await c3.close({ announce: false });
  }
});

test('a magnet link without peers to ask, or malformed, is refused in one line; a .torrent upload may be a magnet too', async () => {
  const none = await post('/api/magnet', { uri: `magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=film` });
  assert.equal(none.status, 422);
  assert.equal(none.json().code, 'EMAGNET');
  assert.match(none.json().error as string, /magnet film names no tracker \(tr=\) and no peer \(x\.pe=\)/);
  const bad = await post('/api/magnet', { uri: 'magnet:?dn=nothing' });
  assert.equal(bad.status, 422);
  assert.equal(bad.json().code, 'EMAGNET');
  const notString = await post('/api/magnet', { uri: 42 });
  assert.equal(notString.status, 400);
  const big = await post('/api/magnet', {
    uri: `magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=${'x'.repeat(20_000)}`,
  });
  assert.equal(big.status, 413);
  const hash = 'cd'.repeat(20);
  const asFile = await pagePost(
    web.port,
    '/api/torrents',
    token,
    `magnet:?xt=urn:btih:${hash}&x.pe=127.0.0.1:${await freePort()}`,
    'text/plain',
  );
  assert.equal(asFile.status, 202);
  assert.equal(asFile.json().infoHash, hash);
  assert.ok((await state()).fetching.some((f) => f.infoHash === hash && f.error === null));
});

test('the console runs the shell for its session and returns the reply, printing it on the terminal too', async () => {
  const r = await post('/api/console', { line: '/see_current_chunks' });
  assert.equal(r.status, 200);
  const lines = r.json<ConsoleReply>().lines.map((l) => l.text);
  assert.deepEqual(lines.slice(0, 1), ['Holding 2 of 7 chunks; 5 missing']);
  assert.ok(lines.some((l) => l.includes('chunk2')));
  assert.ok(terminal.includes('Holding 2 of 7 chunks; 5 missing'));
  const bad = await post('/api/console', { line: '/nonsense' });
  assert.deepEqual(bad.json<ConsoleReply>().lines, [{ text: 'Invalid command — type /help', kind: 'error' }]);
  const multi = await post('/api/console', { line: '/status\n/quit_torrent' });
  assert.equal(multi.status, 400);
});

test('other torrents get a read-only console', async () => {
  const h = other.metainfo.infoHashHex;
  const status = await post('/api/console', { infoHash: h, line: '/status' });
  assert.match(status.json<ConsoleReply>().lines[0]!.text, /^other\.bin {2}[0-9a-f]{40}$/);
  const steer = await post('/api/console', { infoHash: h, line: '/connect_tracker' });
  const [line] = steer.json<ConsoleReply>().lines;
  assert.equal(line!.kind, 'error');
  assert.match(line!.text, /\/connect_tracker changes things, so it runs only in `chunkswarm peer`/);
  assert.equal(other.trackerConnected, false);
});

test('the file selection is changed by a guarded POST; an empty or impossible one is refused in one line', async () => {
  const h = other.metainfo.infoHashHex;
  const path = `/api/torrents/${h}/files`;
  const noToken = await call(web.port, {
    method: 'POST',
    path,
    body: '{"select":"all"}',
    headers: { Origin: `http://127.0.0.1:${web.port}`, 'Content-Type': 'application/json' },
  });
  assert.equal(noToken.status, 403);
  const foreign = await call(web.port, {
    method: 'POST',
    path,
    body: '{"select":"all"}',
    headers: { Origin: 'http://rebind.evil.example', 'X-Chunkswarm-Token': token },
  });
  assert.equal(foreign.status, 403);
  for (const [body, why] of [
    [{ file: 0, selected: false }, /the selection is empty/],
    [{ select: '3' }, /file 3 does not exist/],
    [{ file: 7, selected: true }, /file 7 does not exist/],
    [{ files: [0] }, /send \{"select": "0,2-4"\}/],
  ] as const) {
    const r = await post(path, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.json().error as string, why);
  }
  const ok = await post(path, { select: 'all' });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json(), { selected: [0] });
  const t = (await state()).torrents.find((x) => x.infoHash === h)!;
  assert.equal(t.selectable, true);
  assert.deepEqual(
    t.files.map((f) => [f.index, f.selected]),
    [[0, true]],
  );
});

test('a foreign Host or Origin is refused by the peer page too', async () => {
  assert.equal((await call(web.port, { headers: { Host: 'rebind.evil.example' } })).status, 403);
  const h = other.metainfo.infoHashHex;
  const r = await call(web.port, {
    method: 'POST',
    path: `/api/torrents/${h}/pause`,
    headers: { Origin: 'http://rebind.evil.example', 'X-Chunkswarm-Token': token },
  });
  assert.equal(r.status, 403);
  assert.equal(other.paused, false);
});

test('a non-loopback bind without a token gets a generated one, and every request needs it', async () => {
  const c2 = new Client({ port: 0 });
  await c2.listen();
  const w2 = await startPeerWeb({ client: c2, command: 'seed', host: '0.0.0.0' });
  try {
    assert.equal(w2.generatedToken, true);
    assert.match(w2.accessToken ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await call(w2.port)).status, 401);
    assert.equal(
      (await call(w2.port, { path: '/api/state', headers: { Authorization: `Bearer ${w2.accessToken}` } }))
        .status,
      200,
    );
    const s = (await call(w2.port, { path: `/api/state?token=${w2.accessToken}` })).json<PeerPageState>();
    assert.match(s.addDisabled ?? '', /does not take more torrents/);
    // A seeder takes no magnet link either, with the same reason.
    const auth = { Authorization: `Bearer ${w2.accessToken}` };
    const t2 = (await call(w2.port, { headers: auth })).body
      .toString()
      .match(/cs-token" content="([^"]+)"/)![1]!;
    const m = await call(w2.port, {
      method: 'POST',
      path: '/api/magnet',
      headers: {
        ...auth,
        Origin: `http://127.0.0.1:${w2.port}`,
        'X-Chunkswarm-Token': t2,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ uri: `magnet:?xt=urn:btih:${'ab'.repeat(20)}&x.pe=127.0.0.1:1` }),
    });
    assert.equal(m.status, 400, m.body.toString());
    assert.match(m.json().error as string, /does not take more torrents/);
    assert.deepEqual(w2.web.state().fetching, []);
  } finally {
    await w2.close();
    await c2.close({ announce: false });
  }
});

test('chunkMap: one cell per chunk, or runs of chunks past the cell cap', () => {
  const held = (set: number[]) => (i: number) => set.includes(i);
  assert.deepEqual(chunkMap(5, held([0, 4]), new Set([2])), { cells: 'hmfmh', chunksPerCell: 1 });
  const big = chunkMap(8192, (i) => i < 4096 || i === 5000, new Set([8000]));
  assert.equal(big.chunksPerCell, 2);
  assert.equal(big.cells.length, 4096);
  assert.equal(big.cells[0], 'h');
  assert.equal(big.cells[2500], 'p');
  assert.equal(big.cells[4000], 'f');
  assert.equal(big.cells[4095], 'm');
});

test('ShellTap runs commands one at a time and gives each only its own lines', async () => {
  const seen: string[] = [];
  const tap = new ShellTap({ line: (t) => seen.push(t) });
  const slow = tap.capture(async () => {
    tap.output.line('a1');
    await new Promise((r) => setTimeout(r, 20));
    tap.output.line('a2');
  });
  const fromStdin = tap.serial(async () => tap.output.line('stdin'));
  const fast = tap.capture(async () => tap.output.line('b1', 'ok'));
  const failing = tap.capture(async () => {
    throw new Error('boom');
  });
  assert.deepEqual(await slow, [{ text: 'a1' }, { text: 'a2' }]);
  await fromStdin;
  assert.deepEqual(await fast, [{ text: 'b1', kind: 'ok' }]);
  assert.deepEqual(await failing, [{ text: 'boom', kind: 'error' }]);
  assert.deepEqual(seen, ['a1', 'a2', 'stdin', 'b1']);
});
