import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HeadDecision, RequestHeadReader } from '../../src/tracker/protocol/index.js';

/** Feeds `parts` one push each; the decision of the last push (pushes stop at a decision). */
function read(
  parts: (string | Buffer)[],
  max = 8192,
): { d: HeadDecision; reader: RequestHeadReader; pushes: number } {
  const reader = new RequestHeadReader(max);
  let d: HeadDecision = { kind: 'more' };
  let pushes = 0;
  for (const p of parts) {
    pushes++;
    d = reader.push(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
    if (d.kind !== 'more') break;
  }
  return { d, reader, pushes };
}

const refused = (reason: string | RegExp) => (d: HeadDecision) =>
  d.kind === 'refuse' && (typeof reason === 'string' ? d.reason === reason : reason.test(d.reason));

describe('RequestHeadReader', () => {
  it('reads a tracker request line and skips its headers', () => {
    const head = 'GET /announce?info_hash=%AB&port=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: x\r\n\r\n';
    assert.deepEqual(read([head]).d, {
      kind: 'tracker',
      method: 'GET',
      path: '/announce',
      query: 'info_hash=%AB&port=1',
      headBytes: head.length,
    });
    assert.deepEqual(read(['POST /scrape HTTP/1.0\r\n\r\n']).d, {
      kind: 'tracker',
      method: 'POST',
      path: '/scrape',
      query: '',
      headBytes: 25,
    });
    // Bare LF line ends, empty lines before the request line, no headers at all.
    assert.equal(read(['\r\n\nGET /scrape? HTTP/1.1\n\n']).d.kind, 'tracker');
    const d = read(['GET /announce?a=b HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n']).d;
    assert.equal(d.kind === 'tracker' && d.headBytes, 30, 'the head ends at the first blank line');
  });

  it('waits for the blank line, however the request is cut', () => {
    const head = 'GET /announce?x=1 HTTP/1.1\r\nHost: t\r\n\r\n';
    for (let cut = 1; cut < head.length; cut++) {
      const { d, pushes } = read([head.slice(0, cut), head.slice(cut)]);
      assert.equal(pushes, 2, `cut at ${cut}`);
      assert.equal(d.kind, 'tracker', `cut at ${cut}`);
    }
    assert.equal(read(['GET /announce HTTP/1.1\r\nHost: t\r\n']).d.kind, 'more');
  });

  it('decides "other" as soon as the request line names another path, keeping every byte', () => {
    const { d, reader, pushes } = read(['GET /index.html HTTP/1.1\r\n', 'Host: t\r\n\r\n']);
    assert.deepEqual(d, { kind: 'other' });
    assert.equal(pushes, 1);
    assert.equal(reader.bytes().toString(), 'GET /index.html HTTP/1.1\r\n');
    // Paths that only look like the tracker's.
    for (const path of ['/announce/', '/announcer', '/scrape.php', '/Announce', 'http://t/announce']) {
      assert.deepEqual(read([`GET ${path} HTTP/1.1\r\n\r\n`]).d, { kind: 'other' }, path);
    }
    // A large body in the same packet as the line goes along to the page in full.
    const body = 'b'.repeat(20_000);
    const big = read(['POST /api/torrents HTTP/1', `.1\r\nContent-Length: 20000\r\n\r\n${body}`]);
    assert.deepEqual(big.d, { kind: 'other' });
    assert.ok(big.reader.bytes().toString().endsWith(body));
  });

  it('refuses what is not HTTP/1.x', () => {
    const malformed = refused('malformed HTTP request');
    for (const line of [
      'THIS IS NOT HTTP\r\n\r\n',
      ' GET / HTTP/1.1\r\n',
      'GET  / HTTP/1.1\r\n',
      'GET / HTTP/1.1 x\r\n',
      'GET / HTTP/1.1\rX',
      'GET /\x7f HTTP/1.1\r\n',
      'G(T / HTTP/1.1\r\n',
      '\x16\x03\x01\x00',
    ]) {
      assert.ok(malformed(read([line]).d), JSON.stringify(line));
    }
    assert.ok(refused(/^unsupported HTTP version/)(read(['GET / HTTP/2.0\r\n']).d));
    assert.ok(refused(/^unsupported HTTP version/)(read(['GET / HTTP/1.2\r\n']).d));
    assert.ok(refused(/^HTTP\/0\.9 is not supported/)(read(['GET /announce\r\n']).d));
    // Refused at the first wrong byte, without waiting for the line to end.
    assert.ok(malformed(read(['\x00']).d));
    assert.ok(malformed(read(['GET /a HTTX']).d));
  });

  it('holds a request head to its cap', () => {
    const tooLarge = refused('request too large (the limit is 64 bytes)');
    assert.ok(tooLarge(read([`GET /announce?${'a'.repeat(60)} HTTP/1.1\r\n\r\n`], 64).d));
    assert.ok(tooLarge(read([`GET /announce HTTP/1.1\r\nX: ${'a'.repeat(60)}\r\n\r\n`], 64).d));
    assert.ok(tooLarge(read([`GET /${'a'.repeat(70)}`], 64).d), 'a long line with no end yet');
    // Exactly at the cap is fine; one byte more is not.
    const exact = `GET /announce HTTP/1.1\r\nX: ${'a'.repeat(64 - 31)}\r\n\r\n`;
    assert.equal(exact.length, 64);
    assert.equal(read([exact], 64).d.kind, 'tracker');
    assert.ok(tooLarge(read([exact.replace('X: ', 'X: a')], 64).d));
    // Dripped a byte at a time, the same.
    assert.ok(tooLarge(read([...`GET /announce HTTP/1.1\r\nX: ${'a'.repeat(60)}\r\n\r\n`], 64).d));
    assert.equal(read([...exact], 64).d.kind, 'tracker');
  });
});
