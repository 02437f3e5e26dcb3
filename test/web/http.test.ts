import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { renderPage } from '../../src/web/assets.js';
import { readBody, readJson } from '../../src/web/http.js';
import { coalesce, frame } from '../../src/web/sse.js';

/** A request body as a stream, with the headers readBody looks at. */
function fakeRequest(headers: Record<string, string> = {}): PassThrough & IncomingMessage {
  const s = new PassThrough() as PassThrough & IncomingMessage;
  (s as { headers: Record<string, string> }).headers = headers;
  return s;
}

test('readBody returns a body under the cap whole', async () => {
  const req = fakeRequest();
  const p = readBody(req, 10);
  req.write('hello ');
  req.end('world');
  // 11 bytes with a cap of 10: refused; the same body with a cap of 11 passes.
  await assert.rejects(p, { code: 'EMETAINFO_SIZE' });
  const ok = fakeRequest();
  const q = readBody(ok, 11);
  ok.write('hello ');
  ok.end('world');
  assert.equal((await q).toString(), 'hello world');
});

test('readBody refuses a declared length over the cap before reading a byte', async () => {
  const req = fakeRequest({ 'content-length': '1000001' });
  let read = false;
  req.on('data', () => {
    read = true;
  });
  await assert.rejects(readBody(req, 1_000_000), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'EMETAINFO_SIZE');
    assert.match(err.message, /1000000-byte limit/);
    return true;
  });
  assert.equal(read, false);
  await assert.rejects(readBody(fakeRequest({ 'content-length': 'abc' }), 10), { code: 'EUSAGE' });
});

test('readBody stops at the cap on a body of undeclared length, holding no more than the cap', async () => {
  const req = fakeRequest();
  const p = readBody(req, 64 * 1024);
  for (let i = 0; i < 10; i++) req.write(Buffer.alloc(16 * 1024));
  await assert.rejects(p, { code: 'EMETAINFO_SIZE' });
});

test('readJson wants one JSON object', async () => {
  const json = async (text: string) => {
    const req = fakeRequest();
    const p = readJson(req);
    req.end(text);
    return p;
  };
  assert.deepEqual(await json('{"a":1}'), { a: 1 });
  await assert.rejects(json('{"a":'), /not valid JSON/);
  await assert.rejects(json('[1]'), /must be a JSON object/);
  await assert.rejects(json('null'), /must be a JSON object/);
});

test('renderPage escapes the title and the token; an unbuilt page says how to build it', () => {
  const html = renderPage({
    kind: 'peer',
    title: '<script>alert(1)</script> & co',
    requestToken: 'a"b',
    built: true,
  });
  assert.match(html, /<title>&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; co<\/title>/);
  assert.match(html, /<meta name="cs-token" content="a&quot;b">/);
  assert.doesNotMatch(html, /<script>alert/);
  assert.match(html, /<script src="\/assets\/peer\.js"><\/script>/);
  const unbuilt = renderPage({ kind: 'tracker', title: 't', requestToken: 'x', built: false });
  assert.match(unbuilt, /npm run build/);
  assert.doesNotMatch(unbuilt, /<script/);
});

test('an event frame is one data line whatever the text holds', () => {
  const f = frame('state', { name: 'two\nlines\r\nand\u2028more' });
  assert.equal(f.split('\n').length, 4);
  assert.match(f, /^event: state\ndata: \{[^\r\n]*\}\n\n$/);
  assert.deepEqual(JSON.parse(f.split('\n')[1]!.slice(6)), { name: 'two\nlines\r\nand\u2028more' });
});

test('coalesce folds a burst of calls into one run', async () => {
  let runs = 0;
  const c = coalesce(() => runs++, 10);
  for (let i = 0; i < 100; i++) c();
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(runs, 1);
  c();
  c.cancel();
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(runs, 1, 'a cancelled run does not happen');
});
