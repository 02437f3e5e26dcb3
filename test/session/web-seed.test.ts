/**
 * BEP 19 web seeds, against an HTTP server on loopback: a download fetches a torrent from a web seed alone
 * (a multi-file one with padding, a single-file one), rides out a failing server, and bans one whose bytes
 * fail the hash check.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encode } from '../../src/codec/index.js';
import { metainfoFromInfoBytes } from '../../src/metainfo/index.js';
import type { Metainfo } from '../../src/metainfo/types.js';
import type { Client } from '../../src/session/client.js';
import type { TorrentSession } from '../../src/session/session.js';
import { blockRuns, webSeedFileUrl } from '../../src/session/web-seeding.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { FakeClock } from '../../src/shared/clock.js';
import type { RangeFetch } from '../../src/shared/env.js';
import { FileStorage } from '../../src/storage/index.js';
import { answerRange } from './range-server.js';
import {
  completed,
  filesTorrent,
  listeningClient,
  offlineSession,
  storedInMemory,
  type TorrentFile,
} from './torrents.js';

const PIECE = 64 * 1024;
const clients: Client[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of clients) await c.close({ announce: false });
  for (const f of cleanups) await f();
});

/** An HTTP server on 127.0.0.1 answering Range requests for `files` (URL path -> bytes), each `delayMs` late. */
async function webServer(
  files: Map<string, Buffer>,
  opts: { failFirst?: number; corrupt?: boolean; noRanges?: boolean; delayMs?: number } = {},
): Promise<{ base: string; requests: string[] }> {
  const requests: string[] = [];
  let failures = opts.failFirst ?? 0;
  const server: Server = createServer(async (req, res) => {
    requests.push(`${req.url} ${req.headers.range ?? ''}`);
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    if (failures > 0) {
      failures--;
      res.writeHead(503, 'Busy').end();
      return;
    }
    const body = files.get(decodeURIComponent(req.url ?? ''));
    if (body !== undefined && opts.noRanges) res.writeHead(200, { 'content-length': body.length }).end(body);
    else answerRange(req, res, body, opts);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  return { base: `http://127.0.0.1:${port}`, requests };
}

/** A torrent of `files` naming `webSeeds`; a single-file one when `multiFile` is false. */
function torrent(name: string, files: TorrentFile[], webSeeds: string[], multiFile = true): Metainfo {
  return filesTorrent(name, files, { webSeeds, single: !multiFile }).metainfo;
}

async function leecher(
  metainfo: Metainfo,
  downloadLimit?: number,
): Promise<{ session: TorrentSession; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'chunkswarm-webseed-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const storage = new FileStorage(metainfo, join(dir, metainfo.name));
  await storage.prepare();
  const client = await listeningClient(clients, downloadLimit ? { downloadLimit } : {});
  const session = client.addSession({
    metainfo,
    storage,
    have: new Bitfield(metainfo.pieceCount),
    mode: 'auto',
  });
  return { session, dir };
}

describe('web seed URLs and runs (BEP 19)', () => {
  it('maps each file to its URL: a folder URL gets the name and path, percent-encoded', () => {
    const multi = metainfoFromInfoBytes(
      encode({
        files: [{ length: 1, path: ['sub dir', 'a#1.bin'] }],
        name: 'my pack',
        'piece length': PIECE,
        pieces: Buffer.alloc(20),
      }),
    );
    assert.equal(webSeedFileUrl('http://h/pub/', multi, 0), 'http://h/pub/my%20pack/sub%20dir/a%231.bin');
    assert.equal(webSeedFileUrl('http://h/pub', multi, 0), 'http://h/pub/my%20pack/sub%20dir/a%231.bin');
    const single = metainfoFromInfoBytes(
      encode({ length: 1, name: 'film 1.mkv', 'piece length': PIECE, pieces: Buffer.alloc(20) }),
    );
    assert.equal(webSeedFileUrl('http://h/films/', single, 0), 'http://h/films/film%201.mkv');
    assert.equal(webSeedFileUrl('http://h/x/other.mkv', single, 0), 'http://h/x/other.mkv');
  });

  it('cuts blocks into runs of consecutive blocks of one piece', () => {
    const b = (index: number, begin: number) => ({ index, begin, length: 16_384 });
    assert.deepEqual(
      blockRuns([b(0, 0), b(0, 16_384), b(0, 49_152), b(1, 0), b(1, 16_384)]).map((r) => [
        r.index,
        r.begin,
        r.length,
        r.blocks.length,
      ]),
      [
        [0, 0, 32_768, 2],
        [0, 49_152, 16_384, 1],
        [1, 0, 32_768, 2],
      ],
    );
  });
});

describe('a download from web seeds (BEP 19) on loopback', () => {
  it('fetches a multi-file torrent with padding from a web seed alone, asking for no padding', {
    timeout: 20_000,
  }, async () => {
    const a = randomBytes(100_000);
    const b = randomBytes(150_000);
    const c = randomBytes(3_000);
    const files = new Map([
      ['/pub/pack/a.bin', a],
      ['/pub/pack/sub/b.bin', b],
      ['/pub/pack/c.txt', c],
    ]);
    const server = await webServer(files);
    const m = torrent(
      'pack',
      [
        { path: ['a.bin'], data: a },
        { path: ['.pad', '31072'], data: Buffer.alloc(31_072), pad: true },
        { path: ['sub', 'b.bin'], data: b },
        { path: ['c.txt'], data: c },
      ],
      [`${server.base}/pub/`],
    );
    const { session, dir } = await leecher(m);
    await completed(session);
    assert.ok((await readFile(join(dir, 'pack', 'a.bin'))).equals(a));
    assert.ok((await readFile(join(dir, 'pack', 'sub', 'b.bin'))).equals(b));
    assert.ok((await readFile(join(dir, 'pack', 'c.txt'))).equals(c));
    assert.equal(session.downloaded, a.length + b.length + c.length, 'every byte once, no padding');
    assert.ok(server.requests.every((r) => !r.includes('.pad')));
    assert.deepEqual(
      session.webSeeding.status().map((w) => [w.url, w.downloaded]),
      [[`${server.base}/pub/`, a.length + b.length + c.length]],
    );
  });

  it('fetches a single-file torrent from a URL that names the file, after the server failed once', {
    timeout: 20_000,
  }, async () => {
    const data = randomBytes(5 * PIECE + 1234);
    const server = await webServer(new Map([['/files/film.mkv', data]]), { failFirst: 1 });
    const m = torrent('film.mkv', [{ path: [], data }], [`${server.base}/files/film.mkv`], false);
    const { session, dir } = await leecher(m);
    const warnings: string[] = [];
    session.events.on('warning', (w) => warnings.push(w));
    await completed(session);
    assert.ok((await readFile(join(dir, 'film.mkv'))).equals(data));
    assert.match(
      warnings[0] ?? '',
      /^web seed http:\/\/127\.0\.0\.1:\d+\/files\/film\.mkv: HTTP 503 Busy; trying again in \d+ s$/,
    );
  });

  it("fetches from a server that ignores Range (answering 200 with the whole file), as Python's http.server does", {
    timeout: 20_000,
  }, async () => {
    const data = randomBytes(6 * PIECE + 77);
    const server = await webServer(new Map([['/plain.bin', data]]), { noRanges: true });
    const m = torrent('plain.bin', [{ path: [], data }], [`${server.base}/plain.bin`], false);
    const { session, dir } = await leecher(m);
    await completed(session);
    assert.ok((await readFile(join(dir, 'plain.bin'))).equals(data));
  });

  it('shares a download with a peer: both send chunks, each chunk is checked once', {
    timeout: 20_000,
  }, async () => {
    const data = randomBytes(16 * PIECE);
    // 100 ms an answer, a piece each, two at a time: the web seed alone would take 0.8 s, time enough for the
    // peer to send its share whatever the machine's load.
    const server = await webServer(new Map([['/both.bin', data]]), { delayMs: 100 });
    const m = torrent('both.bin', [{ path: [], data }], [`${server.base}/both.bin`], false);
    // A seeder capped at 256 KiB/s: the web seed is not outrun before it answers.
    const seederClient = await listeningClient(clients, { uploadLimit: 256 * 1024 });
    const seeder = seederClient.addSession({
      metainfo: m,
      storage: await storedInMemory(m, data),
      have: Bitfield.full(m.pieceCount),
      mode: 'seed',
    });
    const { session } = await leecher(m);
    await session.connect('127.0.0.1', seederClient.port);
    await completed(session);
    const fromWeb = session.webSeeding.status()[0]!.downloaded;
    assert.ok(fromWeb > 0 && seeder.uploaded > 0, `web seed ${fromWeb} B, peer ${seeder.uploaded} B`);
    assert.equal(session.hashFailures, 0);
  });

  it('keeps to the download limit', { timeout: 20_000 }, async () => {
    const data = randomBytes(6 * PIECE);
    const server = await webServer(new Map([['/capped.bin', data]]));
    const m = torrent('capped.bin', [{ path: [], data }], [`${server.base}/capped.bin`], false);
    // 384 KiB at 128 KiB/s, a second's worth allowed at once: at least 2 s.
    const started = Date.now();
    const { session } = await leecher(m, 128 * 1024);
    await completed(session);
    assert.ok(Date.now() - started >= 1_900, `done in ${Date.now() - started} ms`);
  });

  it('bans a web seed whose bytes fail the hash check, and says so', { timeout: 20_000 }, async () => {
    const data = randomBytes(8 * PIECE);
    const server = await webServer(new Map([['/bad.bin', data]]), { corrupt: true });
    const m = torrent('bad.bin', [{ path: [], data }], [`${server.base}/bad.bin`], false);
    const { session } = await leecher(m);
    const banned = new Promise<string>((resolve) =>
      session.events.on('warning', (w) => {
        if (w.includes('banned')) resolve(w);
      }),
    );
    assert.match(
      await banned,
      /^web seed http:\/\/127\.0\.0\.1:\d+\/bad\.bin: banned \(sent data that failed its hash check\)$/,
    );
    assert.equal(session.have.count, 0);
    assert.equal(session.webSeeding.status()[0]!.state, 'banned');
  });
});

describe('a web seed that stops answering, on the fake clock', () => {
  it('gives its request up, says so, asks again after 2 s, and the download completes', async () => {
    const data = randomBytes(2 * PIECE);
    const { metainfo } = filesTorrent('quiet.bin', [{ path: [], data }], {
      webSeeds: ['http://127.0.0.1:9/quiet.bin'],
      single: true,
    });
    const clock = new FakeClock(0);
    const calls: number[] = [];
    // The first request hangs until it is aborted; later ones answer.
    const fetchRange: RangeFetch = (_url, start, length, signal) => {
      calls.push(clock.now());
      if (calls.length > 1) return Promise.resolve(Buffer.from(data.subarray(start, start + length)));
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    };
    const s = offlineSession(clock, metainfo, {
      have: new Bitfield(metainfo.pieceCount),
      announcer: { announceEvery: () => new Promise(() => {}) },
      fetchRange,
    });
    const warnings: string[] = [];
    s.events.on('warning', (w) => warnings.push(w));
    s.start();
    // Two lanes: one hangs with a piece (64 KiB: 30 s + 4 s at the slowest rate kept), the other fetches the
    // other piece at once.
    await clock.advanceAsync(33_000);
    assert.equal(s.have.count, 1);
    assert.deepEqual(warnings, []);
    await clock.advanceAsync(1_500);
    assert.deepEqual(warnings, [
      'web seed http://127.0.0.1:9/quiet.bin: 65536 bytes not sent in 34 s; trying again in 2 s',
    ]);
    assert.equal(s.webSeeding.status()[0]!.state, 'retrying');
    await clock.advanceAsync(3_000);
    assert.equal(s.complete, true);
    assert.ok(calls.at(-1)! >= 36_000, `asked again at ${calls.at(-1)} ms`);
    await s.stop({ announce: false });
  });
});
