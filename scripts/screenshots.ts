/**
 * The screenshots in docs/images/, taken from real processes on loopback (nothing else is contacted):
 *
 * - tracker-page.png: a tracker with a rate-limited seeder and two downloaders, its swarm graph drawn
 *   from what the chunkswarm peers report;
 * - peer-page.png: one downloader's page with its file list (two of four files ticked), peers and flags;
 * - wire-view.png: a `chunkswarm peer` shell with `--trace` fetching chunk 2, a PIECE opened.
 *
 *   npm run build && node --import tsx scripts/screenshots.ts
 *
 * It stops by itself: every process it starts is ended on the way out, and it gives up after two minutes.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, Harness, makeFile, ROOT } from '../test/integration/harness.js';
import { browserGate, launch, openPage, sleep, until } from '../test/web/browser.js';
import { fetchChunk, startWireSwarm } from '../test/web/wire-swarm.js';

const OUT = join(ROOT, 'docs', 'images');
/** A screenshot larger than this is too heavy for the README. */
const MAX_PNG = 300 * 1024;

const gate = browserGate();
if (gate.skip || gate.fail) {
  console.error(`cannot take screenshots: ${gate.skip ?? gate.fail}`);
  process.exit(1);
}

const h = new Harness();
await h.setup();
const browser = await launch();
const giveUp = setTimeout(() => {
  console.error('screenshots: gave up after two minutes');
  void browser.close().finally(() => h.teardown().finally(() => process.exit(1)));
}, 120_000);
const errors: string[] = [];
try {
  await mkdir(OUT, { recursive: true });
  const port = await freePort();
  const announce = `http://127.0.0.1:${port}/announce`;
  const root = join(h.dir, 'data', 'course');
  await makeFile(join(root, 'lecture-01.mp4'), 3 * 1024 * 1024, 'one');
  await makeFile(join(root, 'lecture-02.mp4'), 3 * 1024 * 1024 + 4321, 'two');
  await makeFile(join(root, 'notes', 'slides.pdf'), 900_000, 'slides');
  await makeFile(join(root, 'README.txt'), 2_000, 'readme');
  await mkdir(join(h.dir, 'torrents'));
  const torrent = join(h.dir, 'torrents', 'course.torrent');
  const create = h.cs(['create', root, '--tracker', announce, '--piece-length', '65536', '-o', torrent]);
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
  const seed = h.cs(['seed', torrent, '--data', root, '--port', '0', '--upload-limit', '384KiB']);
  await seed.waitFor(/^seeding /m);
  h.cs(['download', torrent, '--out', join(h.dir, 'a'), '--port', '0', '--seed', '--upload-limit', '128KiB']);
  await sleep(2000);
  // Files by path: 0 README.txt, 1 lecture-01.mp4, 2 lecture-02.mp4, 3 notes/slides.pdf.
  const b = h.cs([
    'download',
    torrent,
    '--out',
    join(h.dir, 'b'),
    '--port',
    '0',
    '--select',
    '1,3',
    '--web',
    '127.0.0.1:0',
  ]);
  const url = (await b.waitFor(/web page on (http:\/\/\S+)/))[1]!;
  // A few re-announces, so the tracker has each peer's chunks and rates, and a rate chart with history.
  await sleep(7000);

  const trackerPage = await openPage(browser, `http://127.0.0.1:${port}/`, errors);
  await until('the swarm graph', async () => (await trackerPage.getByTestId('graph-edge').count()) >= 1);
  await sleep(500);
  await trackerPage.screenshot({ path: join(OUT, 'tracker-page.png'), fullPage: true });

  const peerPage = await openPage(browser, url, errors);
  const card = peerPage.locator(`[data-testid="torrent-${infoHash}"]`);
  await until('peers and files', async () => (await card.getByTestId('peer-row').count()) >= 2);
  await until('the file list', async () => (await card.getByTestId('file-row').count()) === 4);
  await sleep(1500);
  await peerPage.screenshot({ path: join(OUT, 'peer-page.png'), fullPage: true });

  const wire = await startWireSwarm(h, 'lecture-03.mp4');
  const wirePage = await openPage(browser, wire.url, errors);
  await fetchChunk(wire, 2);
  await until('HAVE 2 in the diagram', async () =>
    (await wirePage.getByTestId('wire-msg').allTextContents()).some((t) => t.includes('HAVE 2')),
  );
  await wirePage.locator('[data-testid="wire-msg"][data-kind="piece"]').first().click();
  await wirePage.getByTestId('wire-kind-keep-alive').uncheck();
  await sleep(500);
  await wirePage.getByTestId('wire').screenshot({ path: join(OUT, 'wire-view.png') });

  if (errors.length > 0) throw new Error(errors.join('\n'));
  for (const name of ['tracker-page.png', 'peer-page.png', 'wire-view.png']) {
    const { size } = await stat(join(OUT, name));
    console.log(`wrote docs/images/${name} (${Math.round(size / 1024)} KiB)`);
    if (size > MAX_PNG)
      throw new Error(`docs/images/${name} is over ${MAX_PNG / 1024} KiB: make the page smaller`);
  }
} finally {
  clearTimeout(giveUp);
  await browser.close();
  await h.teardown();
}
