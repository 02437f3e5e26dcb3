/**
 * Takes the README's screenshot of the Wire panel (docs/wire-view.png): a `chunkswarm peer` shell with
 * `--web --trace` fetching chunk 2 from a seeder on loopback, a PIECE clicked.
 *
 *   npm run build && node --import tsx test/web/wire-screenshot.ts
 */
import { join } from 'node:path';
import { Harness, ROOT } from '../integration/harness.js';
import { browserGate, launch, openPage, sleep, until } from './browser.js';
import { fetchChunk, startWireSwarm } from './wire-swarm.js';

const gate = browserGate();
if (gate.skip || gate.fail) {
  console.error(`cannot take the screenshot: ${gate.skip ?? gate.fail}`);
  process.exit(1);
}

const h = new Harness();
await h.setup();
const browser = await launch();
try {
  const swarm = await startWireSwarm(h, 'lecture-03.mp4');
  const errors: string[] = [];
  const page = await openPage(browser, swarm.url, errors);
  await fetchChunk(swarm, 2);
  await until('HAVE 2 in the diagram', async () =>
    (await page.getByTestId('wire-msg').allTextContents()).some((t) => t.includes('HAVE 2')),
  );
  await page.locator('[data-testid="wire-msg"][data-kind="piece"]').first().click();
  await page.getByTestId('wire-kind-keep-alive').uncheck();
  await sleep(500);
  await page.getByTestId('wire').screenshot({ path: join(ROOT, 'docs', 'wire-view.png') });
  if (errors.length > 0) throw new Error(errors.join('\n'));
  console.log('wrote docs/wire-view.png');
} finally {
  await browser.close();
  await h.teardown();
}
