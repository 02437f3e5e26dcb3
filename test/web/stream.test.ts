import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Bitfield } from '../../src/shared/bitfield.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { WebGuard } from '../../src/web/guard.js';
import {
  contentTypeFor,
  parseRange,
  type StreamServerHandle,
  type StreamSource,
  startStreamServer,
  torrentFileSource,
} from '../../src/web/stream.js';
import { seeded } from '../picker/helpers.js';
import { buildLayout } from '../storage/helpers.js';

/**
 * A file in memory cut into pieces that "arrive" when the test says so: waitForRange resolves once
 * every piece under the range is present. Records what the server asked, so tests can wait for it.
 */
class GatedSource implements StreamSource {
  readonly present: Bitfield;
  readonly positions: number[] = [];
  readonly waits = new Set<{ pieces: number[]; resolve: () => void }>();
  abortedWaits = 0;
  #onWait: (() => void) | undefined;

  constructor(
    readonly data: Buffer,
    readonly pieceLength: number,
    allPresent: boolean,
  ) {
    const count = Math.ceil(data.length / pieceLength);
    this.present = allPresent ? Bitfield.full(count) : new Bitfield(count);
  }

  get fileLength(): number {
    return this.data.length;
  }

  onReadPosition(fileOffset: number): void {
    this.positions.push(fileOffset);
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    const first = Math.floor(offset / this.pieceLength);
    const last = Math.floor((offset + length - 1) / this.pieceLength);
    for (let p = first; p <= last; p++)
      assert.ok(this.present.has(p), `read of piece ${p} before it arrived`);
    return Buffer.from(this.data.subarray(offset, offset + length));
  }

  waitForRange(offset: number, length: number, signal?: AbortSignal): Promise<void> {
    const pieces: number[] = [];
    for (
      let p = Math.floor(offset / this.pieceLength);
      p <= Math.floor((offset + length - 1) / this.pieceLength);
      p++
    )
      if (!this.present.has(p)) pieces.push(p);
    if (pieces.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        pieces,
        resolve: () => {
          this.waits.delete(w);
          resolve();
        },
      };
      this.waits.add(w);
      signal?.addEventListener('abort', () => {
        this.waits.delete(w);
        this.abortedWaits++;
        this.#onWait?.();
        reject(new Error('aborted'));
      });
      this.#onWait?.();
    });
  }

  /** Resolves once the server is blocked on at least one wait (or on an abort, after one). */
  changed(): Promise<void> {
    return new Promise((resolve) => {
      this.#onWait = () => {
        this.#onWait = undefined;
        resolve();
      };
    });
  }

  arrive(piece: number): void {
    this.present.set(piece);
    for (const w of [...this.waits]) if (w.pieces.every((p) => this.present.has(p))) w.resolve();
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const data = Buffer.alloc(1_000_003);
{
  const r = seeded(7);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
}

describe('parseRange', () => {
  const size = 1000;
  const cases: [string | undefined, ReturnType<typeof parseRange>][] = [
    [undefined, { kind: 'full' }],
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=900-', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=990-5000', { kind: 'partial', start: 990, end: 999 }],
    ['BYTES = 1 - 2', { kind: 'partial', start: 1, end: 2 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=1000-1001', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=5-2', { kind: 'full' }], // invalid: ignored
    ['bytes=0-1,5-6', { kind: 'full' }], // several ranges: the whole file instead
    ['items=0-1', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['bytes=a-b', { kind: 'full' }],
  ];
  for (const [header, expected] of cases) {
    it(`${header ?? '(none)'}`, () => assert.deepEqual(parseRange(header, size), expected));
  }
  it('finds nothing satisfiable in an empty file', () => {
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=-1', 0), { kind: 'unsatisfiable' });
  });
});

describe('stream server', () => {
  let server: StreamServerHandle;
  let ready: GatedSource;
  let gated: GatedSource;
  before(async () => {
    ready = new GatedSource(data, 65_536, true);
    gated = new GatedSource(data, 65_536, false);
    const sources = [
      { source: ready, name: 'movie.mp4' },
      { source: gated, name: 'clip.MKV' },
      { source: new GatedSource(Buffer.alloc(0), 16, true), name: 'empty.bin' },
    ];
    server = await startStreamServer({ sources: (i) => sources[i], defaultIndex: 0, guard: new WebGuard() });
  });
  after(() => server.close());

  it('binds 127.0.0.1 by default', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('returns the exact bytes for many random ranges of every form', async () => {
    const r = seeded(42);
    const n = data.length;
    for (let k = 0; k < 120; k++) {
      const a = Math.floor(r() * n);
      const b = a + Math.floor(r() * Math.min(300_000, n - a));
      const form = k % 3;
      const header = form === 0 ? `bytes=${a}-${b}` : form === 1 ? `bytes=${a}-` : `bytes=-${b - a + 1}`;
      const [start, end] = form === 0 ? [a, b] : form === 1 ? [a, n - 1] : [n - (b - a + 1), n - 1];
      const res = await get(`${server.url}0/movie.mp4`, { Range: header });
      assert.equal(res.status, 206, header);
      assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${n}`, header);
      assert.equal(Number(res.headers['content-length']), end - start + 1, header);
      assert.ok(res.body.equals(data.subarray(start, end + 1)), `body of ${header}`);
    }
  });

  it('sends the whole file with 200, Accept-Ranges and a type from the extension', async () => {
    const res = await get(server.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.equal(res.headers['content-type'], 'video/mp4');
    assert.equal(Number(res.headers['content-length']), data.length);
    assert.ok(res.body.equals(data));
    assert.match(String(res.headers['content-security-policy']), /sandbox/);
  });

  it('answers HEAD with the headers only, and 416 with the size for a range past the end', async () => {
    const head = await get(`${server.url}0`, { Range: 'bytes=10-19' }, 'HEAD');
    assert.equal(head.status, 206);
    assert.equal(head.headers['content-length'], '10');
    assert.equal(head.body.length, 0);
    const past = await get(`${server.url}0`, { Range: `bytes=${data.length}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${data.length}`);
    const empty = await get(`${server.url}2`, { Range: 'bytes=0-' });
    assert.equal(empty.status, 416);
    const emptyFull = await get(`${server.url}2`);
    assert.equal(emptyFull.status, 200);
    assert.equal(emptyFull.body.length, 0);
  });

  it('refuses other methods, unknown files and foreign Host names', async () => {
    assert.equal((await get(server.url, {}, 'POST')).status, 405);
    assert.equal((await get(`${server.url}7`)).status, 404);
    assert.equal((await get(`${server.url}x`)).status, 404);
    assert.equal((await get(server.url, { Host: 'rebind.example:80' })).status, 403);
    assert.equal(contentTypeFor('page.html'), 'application/octet-stream');
  });

  it('holds a range whose pieces are missing until they arrive, then sends the right bytes', async () => {
    gated.positions.length = 0;
    const start = 200_000; // piece 3; the range runs into piece 4
    const blocked = gated.changed();
    const pending = get(`${server.url}1/clip.mkv`, { Range: `bytes=${start}-${start + 99_999}` });
    await blocked;
    assert.deepEqual(gated.positions, [start], 'the server told the source where the reader is');
    assert.equal(gated.waits.size, 1);
    assert.deepEqual([...gated.waits][0]!.pieces, [3, 4]);
    gated.arrive(3);
    assert.equal(gated.waits.size, 1, 'still waiting for piece 4');
    gated.arrive(4);
    const res = await pending;
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-type'], 'video/x-matroska');
    assert.equal(
      res.headers['content-disposition'],
      `inline; filename="clip.MKV"; filename*=UTF-8''clip.MKV`,
    );
    assert.ok(res.body.equals(data.subarray(start, start + 100_000)));
  });

  it('a client that leaves while waiting ends its wait and leaves nothing behind', async () => {
    const blocked = gated.changed();
    const req = request(`${server.url}1`, { headers: { Range: 'bytes=900000-' } });
    req.on('error', () => {});
    req.end();
    await blocked;
    assert.equal(gated.waits.size, 1);
    const aborted = gated.changed();
    req.destroy();
    await aborted;
    assert.equal(gated.abortedWaits, 1);
    assert.equal(gated.waits.size, 0);
    // later arrivals find no one waiting and nothing breaks
    for (let p = 13; p < gated.present.size; p++) gated.arrive(p);
    assert.equal((await get(`${server.url}1`, { Range: 'bytes=900000-900009' })).body.length, 10);
  });
});

describe('stream handler mounted under a path', () => {
  it('serves /stream/<index>/<name> and nothing outside its path', async () => {
    const source = new GatedSource(data.subarray(0, 1000), 100, true);
    const server = await startStreamServer({
      basePath: '/stream/',
      sources: (i) => (i === 3 ? { source, name: 'sub/song.mp3' } : undefined),
    });
    try {
      const res = await get(`${server.url}stream/3/song.mp3`, { Range: 'bytes=10-19' });
      assert.equal(res.status, 206);
      assert.ok(res.body.equals(data.subarray(10, 20)));
      assert.equal(res.headers['content-type'], 'audio/mpeg');
      assert.match(String(res.headers['content-disposition']), /^inline; filename="song\.mp3"/);
      assert.equal((await get(`${server.url}3`)).status, 404);
      assert.equal((await get(`${server.url}streamx/3`)).status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('torrentFileSource', () => {
  it('reads one file of a torrent across piece boundaries and waits for verified pieces only', async () => {
    // 16 KiB pieces over a 10000-byte file and a 40000-byte one: file 1 starts inside piece 0
    const built = buildLayout(
      'two',
      [
        { path: ['a.bin'], length: 10_000 },
        { path: ['b.mp4'], length: 40_000 },
      ],
      16_384,
    );
    const storage = new MemoryStorage(built.layout);
    const verified = new Bitfield(built.layout.pieceCount);
    const listeners = new Set<(p: number) => void>();
    const windows: { first: number; count: number }[] = [];
    const source = torrentFileSource({
      storage,
      fileIndex: 1,
      isVerified: (p) => verified.has(p),
      onPieceVerified: (fn) => {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
      onWindow: (w) => windows.push(w),
      readAheadBytes: 32_768,
    });
    const verify = async (p: number) => {
      await storage.writePiece(p, built.content.subarray(p * 16_384, (p + 1) * 16_384));
      verified.set(p);
      for (const fn of [...listeners]) fn(p);
    };
    assert.equal(source.fileLength, 40_000);
    source.onReadPosition(30_000); // byte 40000 of the torrent: piece 2
    assert.deepEqual(windows, [{ first: 2, count: 2 }]);
    source.onReadPosition(0);
    assert.deepEqual(windows.at(-1), { first: 0, count: 2 });

    let done = false;
    const wait = source.waitForRange(5_000, 20_000, undefined).then(() => {
      done = true;
    }); // torrent bytes 15000..35000: pieces 0, 1, 2
    await verify(0);
    await verify(2);
    assert.equal(done, false);
    assert.equal(listeners.size, 1);
    await verify(1);
    await wait;
    assert.equal(listeners.size, 0, 'the wait unsubscribed');
    assert.deepEqual(await source.readAt(5_000, 20_000), built.fileData[1]!.subarray(5_000, 25_000));

    const gone = new AbortController();
    const abandoned = source.waitForRange(39_000, 1_000, gone.signal);
    gone.abort();
    await assert.rejects(abandoned);
    assert.equal(listeners.size, 0);
  });
});
