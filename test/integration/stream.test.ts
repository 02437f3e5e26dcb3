/**
 * `chunkswarm stream`: one file of a torrent over HTTP while it downloads. Range requests return the
 * exact bytes — also before the download completes (the seeder is slow, so the first answers come long
 * before the end) — and a seek pulls the pieces under it first.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

function get(
  url: string,
  range?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: range ? { Range: range } : {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error('no answer in 60 s')));
    req.end();
  });
}

test('Range requests on stream return the exact bytes, before the download completes', async () => {
  const { announce } = await h.tracker();
  const root = join(h.dir, 'film');
  await makeFile(join(root, 'film.mkv'), 6 * 1024 * 1024 + 77, 'film');
  await makeFile(join(root, 'film.srt'), 30_000, 'subs');
  const torrent = join(h.dir, 'film.torrent');
  const create = h.cs(['create', root, '--tracker', announce, '--piece-length', '262144', '-o', torrent]);
  assert.equal(await create.exited(), 0, create.output());
  // 512 KiB/s: the whole file takes about 12 s, a single piece half a second.
  const seed = h.cs(['seed', torrent, '--data', root, '--port', '0', '--upload-limit', '512KiB']);
  await seed.waitFor(/^seeding /m);
  const stream = h.cs(['stream', torrent, '--out', join(h.dir, 'out'), '--port', '0']);
  const url = (await stream.waitFor(/^streaming film\.mkv \(.*\) at (http:\/\/127\.0\.0\.1:\d+\/)$/m))[1]!;
  const file = await readFile(join(root, 'film.mkv'));

  // A seek near the end first: answered long before the download is over.
  const tail = await get(url, 'bytes=6000000-6100000');
  assert.equal(tail.status, 206);
  assert.equal(tail.headers['content-range'], `bytes 6000000-6100000/${file.length}`);
  assert.ok(tail.body.equals(file.subarray(6000000, 6100001)));
  assert.doesNotMatch(stream.output(), /^complete /m, 'answered before the file was complete');
  const head = await get(url, 'bytes=0-99');
  assert.ok(head.body.equals(file.subarray(0, 100)));
  const suffix = await get(url, 'bytes=-10');
  assert.ok(suffix.body.equals(file.subarray(file.length - 10)));
  const past = await get(url, `bytes=${file.length + 5}-`);
  assert.equal(past.status, 416);
  // The whole file, once it has all come.
  const whole = await get(url);
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(file));
});
