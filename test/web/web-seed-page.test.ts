/**
 * The peer page in Chromium names a download's web seeds (BEP 19) and what each has sent, while a
 * `download --seed --web` of a torrent that only a web server holds runs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { makeCourse } from '../integration/course.js';
import { Harness } from '../integration/harness.js';
import { needPackages } from '../interop/gate.js';
import { serveFolder } from '../session/range-server.js';
import { launch, openPage, until } from './browser.js';

const h = new Harness();
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await h.teardown();
});

test('peer page: a web seed is listed with the bytes it sent', async (t) => {
  if (!needPackages(t, 'chromium')) return;
  await h.setup();
  browser = await launch();
  await makeCourse(join(h.dir, 'site', 'course'), 'page');
  const server = await serveFolder(join(h.dir, 'site'));
  after(() => server.close());
  const torrent = join(h.dir, 'course.torrent');
  const create = h.cs([
    'create',
    join(h.dir, 'site', 'course'),
    '--no-tracker',
    '--web-seed',
    server.url,
    '--piece-length',
    '65536',
    '-o',
    torrent,
  ]);
  assert.equal(await create.exited(), 0, create.output());
  const dl = h.cs([
    'download',
    torrent,
    '--out',
    join(h.dir, 'out'),
    '--port',
    '0',
    '--no-dht',
    '--seed',
    '--web',
    '127.0.0.1:0',
  ]);
  const url = (await dl.waitFor(/web page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
  await dl.waitFor(/^complete course /m, 30_000);

  const errors: string[] = [];
  const page = await openPage(browser, url, errors);
  const text = await until('the web seed on the page', async () => {
    const t = (await page.getByTestId('web-seeds').textContent()) ?? '';
    return t.includes(server.url) && /KiB|MiB/.test(t) ? t : undefined;
  });
  // 300,001 + 200,003 + 250,007 bytes, every one from the web seed.
  assert.match(text, /web seed http:\/\/127\.0\.0\.1:\d+\/files\/: idle, 732\.4 KiB/);
  assert.deepEqual(errors, []);
});
