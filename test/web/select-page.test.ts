/**
 * The peer page's file list in Chromium: a checkbox changes the selection of a running `download`
 * (a file ticked is fetched and created, one left unticked never is), and a chosen file streams from
 * the page with Range requests.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { courseSwarm, tree } from '../integration/course.js';
import { Harness, sameBytes } from '../integration/harness.js';
import { needPackages } from '../interop/gate.js';
import { launch, openPage, until } from './browser.js';

const h = new Harness();
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await h.teardown();
});

function range(url: string, from: number, to: number): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { Range: `bytes=${from}-${to}` }, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    }).on('error', reject);
  });
}

test('peer page: a file checkbox changes what a running download fetches; a chosen file streams', async (t) => {
  if (!needPackages(t, 'chromium')) return;
  await h.setup();
  browser = await launch();
  // 0 a.bin, 1 c.bin, 2 notes/b.txt; sizes straddle the 64 KiB chunks.
  const { root, torrent, infoHash } = await courseSwarm(h);
  const out = join(h.dir, 'out');
  const dl = h.cs([
    'download',
    torrent,
    '--out',
    out,
    '--port',
    '0',
    '--select',
    '2',
    '--seed',
    '--web',
    '127.0.0.1:0',
  ]);
  const url = (await dl.waitFor(/web page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
  await dl.waitFor(/^complete course /m, 30_000);
  assert.deepEqual(await tree(out), ['course/notes/b.txt']);

  const errors: string[] = [];
  const page = await openPage(browser, url, errors);
  const card = page.locator(`[data-testid="torrent-${infoHash}"]`);
  const row = (i: number) => card.locator(`[data-testid="file-row"][data-index="${i}"]`);
  await until('the file list', async () => (await card.getByTestId('file-row').count()) === 3);
  assert.equal(await row(0).getByTestId('file-select').isChecked(), false);
  assert.equal(await row(1).getByTestId('file-select').isChecked(), false);
  assert.equal(await row(2).getByTestId('file-select').isChecked(), true);
  assert.equal(await row(2).getByTestId('file-done').textContent(), '100.0%');
  assert.equal(await row(0).getByTestId('file-stream').count(), 0, 'a file left out has no stream');

  // The box shows the session's selection, so it turns checked once the page has the new status, not at
  // the click itself (Playwright's check() wants the change at once and raced the page's refresh).
  await row(0).getByTestId('file-select').click();
  await until('a.bin ticked', () => row(0).getByTestId('file-select').isChecked());
  await until(
    'a.bin downloaded',
    async () => (await row(0).getByTestId('file-done').textContent()) === '100.0%',
  );
  await until('a.bin on disk', () => sameBytes(join(root, 'a.bin'), join(out, 'course', 'a.bin')));
  assert.deepEqual(await tree(out), ['course/a.bin', 'course/notes/b.txt'], 'c.bin is never created');
  assert.equal(await row(1).getByTestId('file-select').isChecked(), false);

  // The stream link of a chosen file answers Range requests with the exact bytes.
  const href = await row(0).getByTestId('file-stream').getAttribute('href');
  assert.match(href ?? '', new RegExp(`^/stream/${infoHash}/0/a\\.bin$`));
  const part = await range(new URL(href!, url).href, 65_000, 70_000);
  assert.equal(part.status, 206);
  assert.deepEqual(part.body, (await readFile(join(root, 'a.bin'))).subarray(65_000, 70_001));
  assert.deepEqual(errors, []);
});
