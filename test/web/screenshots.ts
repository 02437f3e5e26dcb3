/**
 * Takes the README's two screenshots (docs/tracker-page.png, docs/peer-page.png) from a real swarm
 * on loopback: a tracker with a --torrents folder, a rate-limited seeder and two downloaders.
 *
 *   npm run build && node --import tsx test/web/screenshots.ts
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, Harness, makeFile, ROOT } from '../integration/harness.js';
import { browserGate, launch, openPage, sleep, until } from './browser.js';

const gate = browserGate();
if (gate.skip || gate.fail) {
  console.error(`cannot take screenshots: ${gate.skip ?? gate.fail}`);
  process.exit(1);
}

const h = new Harness();
await h.setup();
const browser = await launch();
try {
  const port = await freePort();
  const announce = `http://127.0.0.1:${port}/announce`;
  const data = join(h.dir, 'data', 'lecture-03.mp4');
  await makeFile(data, 8 * 1024 * 1024, 'lecture');
  await mkdir(join(h.dir, 'torrents'));
  const torrent = join(h.dir, 'torrents', 'lecture-03.torrent');
  const create = h.cs([
    'create',
    data,
    '--tracker',
    announce,
    '--piece-length',
    String(64 * 1024),
    '-o',
    torrent,
  ]);
  if ((await create.exited()) !== 0) throw new Error(create.output());
  const infoHash = create.output().split('\n')[0]!.trim();

  const tracker = h.cs([
    'tracker',
    '--port',
    String(port),
    '--interval',
    '5',
    '--torrents',
    join(h.dir, 'torrents'),
  ]);
  await tracker.waitFor(/tracker page on/);
  const seed = h.cs(['seed', torrent, '--data', data, '--port', '0', '--upload-limit', '256KiB']);
  await seed.waitFor(/^seeding /m);
  const a = h.cs([
    'download',
    torrent,
    '--out',
    join(h.dir, 'a'),
    '--port',
    '0',
    '--seed',
    '--upload-limit',
    '128KiB',
  ]);
  await sleep(2500);
  const b = h.cs(['download', torrent, '--out', join(h.dir, 'b'), '--port', '0', '--web', '127.0.0.1:0']);
  const url = (await b.waitFor(/web page on (http:\/\/\S+)/))[1]!;

  // Long enough for a few re-announces (chunk maps on the tracker) and a rate chart with some history.
  await sleep(7000);
  const errors: string[] = [];
  const trackerPage = await openPage(browser, `http://127.0.0.1:${port}/`, errors);
  await until(
    'the swarm',
    async () =>
      (await trackerPage.locator(`[data-testid="swarm-${infoHash}"] [data-testid="peer-row"]`).count()) >= 3,
  ).catch(async (err) => {
    console.error(await trackerPage.content(), tracker.output(), a.output(), b.output());
    throw err;
  });
  await sleep(500);
  await trackerPage.screenshot({ path: join(ROOT, 'docs', 'tracker-page.png'), fullPage: true });

  const peerPage = await openPage(browser, url, errors);
  await until('the torrent', async () => (await peerPage.getByTestId('peer-row').count()) >= 1);
  await peerPage.getByTestId('console-input').fill('/status');
  await peerPage.getByTestId('console-run').click();
  await until('the console reply', async () =>
    /chunks/.test((await peerPage.getByTestId('console-out').textContent()) ?? ''),
  );
  await sleep(1500);
  await peerPage.screenshot({ path: join(ROOT, 'docs', 'peer-page.png'), fullPage: true });
  if (errors.length > 0) throw new Error(errors.join('\n'));
  console.log('wrote docs/tracker-page.png and docs/peer-page.png');
} finally {
  await browser.close();
  await h.teardown();
}
