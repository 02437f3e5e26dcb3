/**
 * `chunkswarm tracker` as a real process: its SQLite file survives SIGKILL, and ~200 hostile
 * requests over raw sockets each get a proper answer while the process keeps serving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeBytes, parseAnnounceResponse, parseScrapeResponse } from '../../src/tracker/protocol/index.js';
import { DEFAULT_MAX_PEERS_PER_IP } from '../../src/tracker/server/index.js';
import { announceQuery, failureOf, hash, peerId } from './helpers.js';
import { exchange, type HttpReply, parseHttp, spawnTracker, type TrackerProcess } from './process-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'chunkswarm-tracker-proc-'));
const running: TrackerProcess[] = [];
after(async () => {
  await Promise.all(running.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<TrackerProcess> {
  const p = await spawnTracker(args, env);
  running.push(p);
  return p;
}

const get = (path: string, method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

async function ask(port: number, path: string): Promise<HttpReply> {
  const reply = await exchange(port, get(path));
  const http = parseHttp(reply.raw);
  assert.ok(http, `no HTTP answer to ${path.slice(0, 60)}: ${reply.raw.toString('latin1').slice(0, 200)}`);
  return http;
}

describe('chunkswarm tracker --db', () => {
  it('keeps every answered announce through kill -9 and a restart on the same file', async () => {
    const db = join(dir, 'tracker.db');
    const first = await start(['--db', db]);
    const announce = async (port: number, n: number, extra: string) =>
      parseAnnounceResponse((await ask(port, `/announce?${announceQuery(1, n, extra)}`)).body);
    await announce(first.port, 1, '&left=100&event=started&cs_name=movie.mkv&cs_pieces=8');
    await announce(first.port, 2, '&left=100&event=started');
    await announce(first.port, 3, '&left=0&event=completed');
    const last = await announce(first.port, 2, '&left=0&event=completed');
    assert.equal(last.complete, 2);
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');

    const second = await start(['--db', db]);
    const scrape = parseScrapeResponse(
      (await ask(second.port, `/scrape?info_hash=${encodeBytes(hash(1))}`)).body,
    );
    assert.deepEqual(scrape.get(hash(1).toString('hex')), {
      complete: 2,
      incomplete: 1,
      downloaded: 2,
      name: 'movie.mkv',
    });
    const newcomer = await announce(second.port, 4, '&left=100');
    assert.deepEqual(
      newcomer.peers.map((p) => p.port).sort(),
      [6001, 6002, 6003],
      'the peers from before the kill are handed out',
    );
    // A peer that already completed before the kill is not counted again.
    await announce(second.port, 3, '&left=0&event=completed');
    const again = parseScrapeResponse(
      (await ask(second.port, `/scrape?info_hash=${encodeBytes(hash(1))}`)).body,
    );
    assert.equal(again.get(hash(1).toString('hex'))?.downloaded, 2);
  });
});

describe('chunkswarm tracker under hostile requests', () => {
  it('answers ~200 hostile requests properly and keeps serving', async () => {
    const timeoutMs = 1500;
    const t = await start(['--trust-ip-param'], { CHUNKSWARM_TRACKER_REQUEST_TIMEOUT_MS: String(timeoutMs) });
    const port = t.port;
    const good = (n: number, extra = '') => `/announce?${announceQuery(7, n, extra)}`;

    type Expect = RegExp | 'announce' | 'closed' | 404;
    const cases: { name: string; send: Parameters<typeof exchange>[1]; expect: Expect }[] = [];
    const add = (name: string, send: Parameters<typeof exchange>[1], expect: Expect) =>
      cases.push({ name, send, expect });

    // Garbage request lines and binary junk.
    add('not http', 'THIS IS NOT HTTP\r\n\r\n', /^malformed HTTP request$/);
    add('method only', 'GET\r\n\r\n', /^malformed HTTP request$/);
    add('leading space', ' GET /announce HTTP/1.1\r\n\r\n', /^malformed HTTP request$/);
    add('double space', 'GET  /announce HTTP/1.1\r\n\r\n', /^malformed HTTP request$/);
    add('trailing word', 'GET /announce HTTP/1.1 please\r\n\r\n', /^malformed HTTP request$/);
    add('bare CR', 'GET /announce HTTP/1.1\rHost: x\r\n\r\n', /^malformed HTTP request$/);
    add('control byte in target', 'GET /announce?\x01\x02 HTTP/1.1\r\n\r\n', /^malformed HTTP request$/);
    add('NUL in method', 'G\x00T /announce HTTP/1.1\r\n\r\n', /^malformed HTTP request$/);
    add('HTTP/2 line', 'GET /announce HTTP/2.0\r\n\r\n', /^unsupported HTTP version/);
    add('HTTP/1.2', 'GET /announce HTTP/1.2\r\n\r\n', /^unsupported HTTP version/);
    add('TLS hello', Buffer.from('16030100a5010000a10303', 'hex'), /^malformed HTTP request$/);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 60; i++) {
      const junk = Buffer.alloc(1 + (random() % 3000));
      for (let j = 0; j < junk.length; j++) junk[j] = random() & 0xff;
      // A first byte that cannot start a method: refused as soon as it is read.
      junk[0] = 0x80 | (random() & 0x7f);
      add(`junk ${i}`, junk, /^malformed HTTP request$/);
    }
    for (let i = 0; i < 25; i++) {
      // Junk behind a plausible start: whatever it turns into, a failure reason comes back.
      const junk = Buffer.alloc(200 + (random() % 2000));
      for (let j = 0; j < junk.length; j++) junk[j] = random() & 0xff;
      add(
        `junk after GET ${i}`,
        Buffer.concat([Buffer.from('GET /announce?'), junk, Buffer.from('\r\n\r\n')]),
        /./,
      );
    }

    // Huge requests.
    const x20k = 'x'.repeat(20_000);
    add('20 KB URL', get(`/announce?${x20k}`), /^request too large \(the limit is 8192 bytes\)$/);
    add('20 KB scrape URL', get(`/scrape?info_hash=${x20k}`), /^request too large/);
    add('20 KB page URL', get(`/${x20k}`), /^request too large/);
    add('20 KB header', `GET ${good(1)} HTTP/1.1\r\nX-Junk: ${x20k}\r\n\r\n`, /^request too large/);
    add('20 KB header to the page', `GET / HTTP/1.1\r\nX-Junk: ${x20k}\r\n\r\n`, /^request too large/);
    add('200 KB of junk', Buffer.alloc(200_000, 0x41), /^request too large/);

    // Slow and half-closed.
    add('slowloris', 'GET /announce?info_hash=', /^request took too long to arrive$/);
    add(
      'drip feed',
      (sock) => {
        const timer = setInterval(() => sock.write('a'), 100);
        sock.write('GET /announce?');
        sock.on('close', () => clearInterval(timer));
      },
      /^request took too long to arrive$/,
    );
    add('connect and say nothing', () => {}, 'closed');
    add('connect and close', (sock) => sock.end(), 'closed');
    add(
      'half-closed mid line',
      (sock) => sock.end('GET /announce?info_hash=abc'),
      /^incomplete HTTP request$/,
    );
    add(
      'half-closed mid headers',
      (sock) => sock.end(`GET ${good(2)} HTTP/1.1\r\nHost: x\r\n`),
      /^incomplete HTTP request$/,
    );
    add('half-closed after a whole request', (sock) => sock.end(get(good(3))), 'announce');
    add(
      'request split byte by byte',
      (sock) => {
        const all = Buffer.from(get(good(4)));
        let i = 0;
        const timer = setInterval(() => {
          if (i < all.length) sock.write(all.subarray(i, i + 37));
          else clearInterval(timer);
          i += 37;
        }, 5);
      },
      'announce',
    );

    // Percent-encoding.
    add(
      'bad escape in info_hash',
      get('/announce?info_hash=%zz&peer_id=x&port=1'),
      /^invalid percent-encoding in info_hash$/,
    );
    add('cut escape', get(`/announce?${announceQuery(7, 5)}&key=%4`), /^invalid key$/);
    add('lone percent', get('/announce?info_hash=%'), /^invalid percent-encoding in info_hash$/);
    add(
      'bad escape in a name',
      get(`/announce?in%zzfo=1&${announceQuery(7, 5)}`),
      /^invalid percent-encoding in a parameter name$/,
    );
    add(
      'bad escape in peer_id',
      get(`/announce?info_hash=${encodeBytes(hash(7))}&peer_id=%G0&port=1`),
      /^invalid percent-encoding in peer_id$/,
    );
    add('short info_hash', get('/announce?info_hash=abc&peer_id=x&port=1'), /^info_hash must be 20 bytes$/);
    add('bad escape in scrape', get('/scrape?info_hash=%%'), /^invalid percent-encoding in info_hash$/);

    // Numbers.
    const numbers: [string, RegExp | 'announce'][] = [
      ['port=-1', /^invalid port$/],
      ['port=0', /^invalid port$/],
      ['port=65536', /^invalid port$/],
      ['port=1e3', /^invalid port$/],
      ['port=', /^invalid port$/],
      ['port=0x50', /^invalid port$/],
      ['uploaded=-5', /^invalid uploaded$/],
      ['downloaded=1.5', /^invalid downloaded$/],
      ['left=99999999999999999999', /^invalid left$/],
      ['left=-0', /^invalid left$/],
      ['numwant=-1', /^invalid numwant$/],
      ['numwant=99999999', 'announce'],
      ['compact=2', /^invalid compact \(0 or 1\)$/],
      ['event=bogus', /^invalid event$/],
      ['cs_pieces=0', /^invalid cs_pieces$/],
      ['cs_pieces=4&cs_bitfield=!!!!', /^invalid cs_bitfield$/],
      ['cs_pieces=4&cs_have=9', /^cs_have is more than cs_pieces$/],
    ];
    for (const [param, expect] of numbers) {
      const base = `info_hash=${encodeBytes(hash(7))}&peer_id=${encodeBytes(peerId(9))}`;
      const query = param.startsWith('port=') ? `${base}&${param}` : `${base}&port=6009&${param}`;
      add(`number ${param}`, get(`/announce?${query}`), expect);
    }

    // Duplicates: the first copy counts.
    add('port twice, good first', get(`/announce?${announceQuery(7, 6)}&port=-1`), 'announce');
    add('port twice, bad first', get(`/announce?port=-1&${announceQuery(7, 6)}`), /^invalid port$/);
    add('info_hash twice', get(`/announce?${announceQuery(7, 6)}&info_hash=short`), 'announce');
    add('many repeats', get(`/announce?${announceQuery(7, 6)}${'&numwant=1'.repeat(500)}`), 'announce');

    // Methods and versions.
    for (const m of ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'BREW', 'CONNECT', 'TRACE']) {
      add(`${m} announce`, get(good(8), m), /^use GET for \/announce$/);
    }
    add('POST scrape', get('/scrape', 'POST'), /^use GET for \/scrape$/);
    add(
      'POST with body',
      `POST ${good(8)} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello`,
      /^use GET for \/announce$/,
    );
    add('HTTP/0.9', `GET ${good(8)}\r\n`, /^HTTP\/0\.9 is not supported/);
    add('HTTP/1.0', `GET ${good(10)} HTTP/1.0\r\n\r\n`, 'announce');
    add('bare LF lines', `GET ${good(11)} HTTP/1.1\nHost: x\n\n`, 'announce');
    add(
      'raw bytes in target',
      Buffer.from(
        `GET /announce?info_hash=${'\xff'.repeat(20)}&peer_id=${'\xfe'.repeat(20)}&port=77 HTTP/1.1\r\n\r\n`,
        'latin1',
      ),
      'announce',
    );

    // Pipelining: the first request is answered, the rest are not read.
    add('pipelined announces', get(good(12)) + get(good(13)) + get(good(14)), 'announce');
    add('pipelined after junk', `${get(good(15))}\x00\x01\x02garbage`, 'announce');

    // Scrape abuse.
    const many = Array.from({ length: 65 }, (_, i) => `info_hash=${encodeBytes(hash(100 + i))}`).join('&');
    add('65 scrape hashes', get(`/scrape?${many}`), /^too many info_hash values \(at most 64 per scrape\)$/);

    // Other paths go to the page server, which answers like a web server.
    const page = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    add('path traversal', page('/../../etc/passwd'), 404);
    add('unknown path', page('/announce/extra'), 404);

    // One address inventing peer ids: capped per swarm (the tracker trusts `ip=` here).
    for (let n = 1; n <= DEFAULT_MAX_PEERS_PER_IP + 8; n++) {
      add(
        `fake peer ${n}`,
        get(`/announce?${announceQuery(9, n, '&ip=203.0.113.7')}`),
        n <= DEFAULT_MAX_PEERS_PER_IP ? 'announce' : /^too many peers from 203\.0\.113\.7 in this swarm/,
      );
    }

    assert.ok(cases.length >= 190, `only ${cases.length} cases`);
    // The fake peers must go in order; the rest run in parallel batches.
    const flood = cases.filter((c) => c.name.startsWith('fake peer'));
    const rest = cases.filter((c) => !c.name.startsWith('fake peer'));
    const check = async (c: (typeof cases)[number]) => {
      const reply = await exchange(port, c.send, timeoutMs * 4);
      const what = `${c.name}: ${reply.raw.toString('latin1').slice(0, 300)}`;
      assert.equal(reply.timedOut, false, `${c.name}: the tracker neither answered nor closed`);
      if (c.expect === 'closed') {
        assert.equal(reply.raw.length, 0, what);
        return;
      }
      const http = parseHttp(reply.raw);
      assert.ok(http, `${what}: not an HTTP response`);
      if (c.expect === 404) {
        assert.equal(http.status, 404, what);
        return;
      }
      assert.equal(http.status, 200, what);
      assert.equal(http.headers.get('content-type'), 'text/plain', what);
      assert.equal(Number(http.headers.get('content-length')), http.body.length, what);
      assert.equal(http.headers.get('connection'), 'close', what);
      if (c.expect === 'announce') {
        const r = parseAnnounceResponse(http.body);
        assert.ok(r.interval > 0, what);
      } else {
        assert.match(failureOf(http.body) ?? '(no failure reason)', c.expect, what);
      }
    };
    for (let i = 0; i < rest.length; i += 25) await Promise.all(rest.slice(i, i + 25).map(check));
    for (const c of flood) await check(c);

    // Still alive, still serving.
    assert.equal(t.child.exitCode, null, t.output());
    const ok = await ask(port, `/announce?${announceQuery(7, 99, '&left=0')}`);
    const r = parseAnnounceResponse(ok.body);
    assert.ok(r.peers.length > 0);
    // And the page keeps HTTP/1.1 keep-alive: two requests on one connection, two answers.
    const two = await exchange(
      port,
      (sock) => {
        sock.write('GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        sock.write('GET /also-nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      },
      5000,
    );
    assert.equal(two.raw.toString('latin1').match(/HTTP\/1\.1 404 /g)?.length, 2, two.raw.toString('latin1'));
  });
});
