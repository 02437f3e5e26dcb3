/**
 * The web seeds' HTTP range requests (`fetchRange`) against a loopback server that behaves well, then badly:
 * each failure is one line saying what the server did.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fetchRange } from '../../src/shared/http-range.js';
import { freePort } from '../integration/harness.js';

const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
let base = '';
const server = createServer((req, res) => {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  const start = Number(m?.[1] ?? 0);
  const end = Number(m?.[2] ?? 0);
  switch (req.url) {
    case '/ok':
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}` });
      res.end(body.subarray(start, end + 1));
      return;
    case '/whole':
      res.writeHead(200, { 'content-length': body.length }).end(body);
      return;
    case '/moved':
      res.writeHead(302, { location: '/ok' }).end();
      return;
    case '/elsewhere':
      res.writeHead(206, { 'content-range': `bytes 0-9/${body.length}` }).end(body.subarray(0, 10));
      return;
    case '/short':
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}` });
      res.end(body.subarray(start, start + 5));
      return;
    default:
      res.writeHead(404, 'Not Found').end();
  }
});
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const get = (path: string, start: number, length: number) =>
  fetchRange(`${base}${path}`, start, length, new AbortController().signal);

describe('fetchRange', () => {
  it('returns exactly the range, also after a redirect', async () => {
    assert.deepEqual(await get('/ok', 100, 50), body.subarray(100, 150));
    assert.deepEqual(await get('/moved', 990, 10), body.subarray(990, 1000));
  });

  it('takes the range out of a whole file from a server that ignores Range', async () => {
    assert.deepEqual(await get('/whole', 300, 200), body.subarray(300, 500));
  });

  it('refuses what is not the range, in one line each', async () => {
    await assert.rejects(get('/missing', 0, 10), { message: 'HTTP 404 Not Found' });
    await assert.rejects(get('/elsewhere', 500, 10), {
      message: 'asked for bytes from 500, the server sent bytes 0-9/1000',
    });
    await assert.rejects(get('/short', 100, 50), { message: 'the server sent 5 of 50 bytes' });
    const dead = await freePort();
    await assert.rejects(fetchRange(`http://127.0.0.1:${dead}/x`, 0, 10, new AbortController().signal), {
      message: `cannot reach 127.0.0.1:${dead}: connection refused (ECONNREFUSED)`,
    });
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(fetchRange(`${base}/ok`, 0, 10, controller.signal), { name: 'AbortError' });
  });
});
