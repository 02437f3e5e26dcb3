import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Locator } from 'playwright-core';
import { Harness, makeFile, sameBytes } from '../integration/harness.js';
import { browserGate, getWithHost, launch, openPage, sleep, until } from './browser.js';

const gate = browserGate();
const h = new Harness();
let browser: Browser | undefined;
let announce = '';
let trackerPort = 0;
const CHUNK = 64 * 1024;

/** `chunkswarm create` with 64 KiB chunks; returns the .torrent path and the infohash. */
async function create(file: string, out: string): Promise<{ torrent: string; infoHash: string }> {
  const c = h.cs(['create', file, '--tracker', announce, '--piece-length', String(CHUNK), '-o', out]);
  assert.equal(await c.exited(), 0, c.output());
  return { torrent: out, infoHash: c.output().split('\n')[0]!.trim() };
}

const num = async (l: Locator): Promise<number> => Number((await l.textContent())?.trim());

if (gate.fail) {
  test('the dashboard tests have Chromium and the built pages', () => assert.fail(gate.fail));
} else {
  before(async () => {
    if (gate.skip) return;
    await h.setup();
    const t = await h.tracker(['--interval', '5']);
    announce = t.announce;
    trackerPort = Number(new URL(announce).port);
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await h.teardown();
  });

  test('tracker page: a running swarm, its counts changing live as a leecher completes', {
    skip: gate.skip,
  }, async () => {
    const errors: string[] = [];
    await makeFile(join(h.dir, 'data', 'swarm.bin'), 1024 * 1024 + 999, 'swarm');
    const { torrent, infoHash } = await create(
      join(h.dir, 'data', 'swarm.bin'),
      join(h.dir, 'swarm.torrent'),
    );
    const seed = h.cs([
      'seed',
      torrent,
      '--data',
      join(h.dir, 'data', 'swarm.bin'),
      '--port',
      '0',
      '--upload-limit',
      '256KiB',
    ]);
    await seed.waitFor(/^seeding swarm\.bin on /m);

    const page = await openPage(browser!, `http://127.0.0.1:${trackerPort}/`, errors);
    const swarm = page.locator(`[data-testid="swarm-${infoHash}"]`);
    await until('the seeder on the page', async () => (await num(swarm.getByTestId('seeders'))) === 1);
    assert.equal(await swarm.getByTestId('swarm-name').textContent(), 'swarm.bin');
    assert.equal(await num(swarm.getByTestId('leechers')), 0);
    assert.equal(await num(swarm.getByTestId('completed')), 0);
    // Marks this document: still there at the end means the page never reloaded.
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });

    // --seed: the leecher stays on as a seeder once complete, so the counts settle where the page can see them.
    const leecher = h.cs(['download', torrent, '--out', join(h.dir, 'dl-swarm'), '--port', '0', '--seed']);
    await until('the leecher on the page', async () => (await num(swarm.getByTestId('leechers'))) === 1);
    await until(
      'the completed leecher counted',
      async () =>
        (await num(swarm.getByTestId('completed'))) === 1 &&
        (await num(swarm.getByTestId('seeders'))) === 2 &&
        (await num(swarm.getByTestId('leechers'))) === 0,
    );
    await leecher.waitFor(/^complete swarm\.bin/m);
    assert.ok(await sameBytes(join(h.dir, 'data', 'swarm.bin'), join(h.dir, 'dl-swarm', 'swarm.bin')));
    assert.equal(
      await page.evaluate(() => (window as unknown as { marker?: number }).marker),
      42,
      'no reload',
    );
    assert.equal(await swarm.getByTestId('peer-row').count(), 2);
    assert.equal(await swarm.getByTestId('availability').locator('canvas').count(), 1);
    assert.match(
      (await swarm.getByTestId('magnet-link').getAttribute('href')) ?? '',
      new RegExp(`^magnet:\\?xt=urn:btih:${infoHash}`),
    );

    // A .torrent with a hostile name, registered through the page: shown as text, served back as is.
    const hostile = '<img src=x onerror="window.pwned=1">.bin';
    await makeFile(join(h.dir, 'data', hostile), 70_000, 'hostile');
    const evil = await create(join(h.dir, 'data', hostile), join(h.dir, 'hostile.torrent'));
    await page.getByTestId('upload-file').setInputFiles(evil.torrent);
    await page.getByTestId('upload-button').click();
    await until('the upload acknowledged', async () =>
      /registered/.test((await page.getByTestId('note').textContent()) ?? ''),
    );
    const evilSwarm = page.locator(`[data-testid="swarm-${evil.infoHash}"]`);
    assert.equal(await evilSwarm.getByTestId('swarm-name').textContent(), hostile);
    assert.equal(await evilSwarm.locator('img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
    const href = await evilSwarm.getByTestId('torrent-link').getAttribute('href');
    const served = await page.evaluate(
      async (u) => [...new Uint8Array(await (await fetch(u!)).arrayBuffer())],
      href,
    );
    assert.ok(
      Buffer.from(served).equals(await readFile(evil.torrent)),
      'the .torrent link serves the registered file',
    );

    assert.equal(await getWithHost(trackerPort, '/', 'attacker.example'), 403);
    assert.equal(await getWithHost(trackerPort, '/events', `attacker.example:${trackerPort}`), 403);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('peer page: progress rises, pause stops it, resume restarts it, an added torrent downloads', {
    skip: gate.skip,
  }, async () => {
    const errors: string[] = [];
    await makeFile(join(h.dir, 'data', 'big.bin'), 2 * 1024 * 1024, 'big');
    await makeFile(join(h.dir, 'data', 'small.bin'), 300_000, 'small');
    const big = await create(join(h.dir, 'data', 'big.bin'), join(h.dir, 'big.torrent'));
    const small = await create(join(h.dir, 'data', 'small.bin'), join(h.dir, 'small.torrent'));
    const seedBig = h.cs([
      'seed',
      big.torrent,
      '--data',
      join(h.dir, 'data', 'big.bin'),
      '--port',
      '0',
      '--upload-limit',
      '160KiB',
      '--web',
      '127.0.0.1:0',
    ]);
    const seedSmall = h.cs([
      'seed',
      small.torrent,
      '--data',
      join(h.dir, 'data', 'small.bin'),
      '--port',
      '0',
    ]);
    await seedBig.waitFor(/^seeding big\.bin on /m);
    await seedSmall.waitFor(/^seeding small\.bin on /m);

    const out = join(h.dir, 'dl-peer-page');
    const dl = h.cs(['download', big.torrent, '--out', out, '--port', '0', '--web', '127.0.0.1:0']);
    const url = (await dl.waitFor(/web page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const webPort = Number(new URL(url).port);
    const page = await openPage(browser!, url, errors);
    const card = page.locator(`[data-testid="torrent-${big.infoHash}"]`);
    const have = async (l: Locator = card): Promise<number> =>
      Number(await l.getByTestId('progress').getAttribute('data-have'));

    const first = await until('a first chunk', async () => {
      const n = await have();
      return n > 0 && n;
    });
    await until('progress rising', async () => (await have()) > first);
    // The seeder's own page says where its first pass stands (each chunk sent once before any twice).
    const seedUrl = (await seedBig.waitFor(/web page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const seedPage = await openPage(browser!, seedUrl, errors);
    const seeding = seedPage.locator(`[data-testid="torrent-${big.infoHash}"]`).getByTestId('seeding');
    await until('the seeder page saying its first pass', async () =>
      /^seeding: first pass: \d+ of 32 chunks sent once$/.test((await seeding.textContent()) ?? ''),
    );
    await seedPage.close();
    assert.equal(await card.getByTestId('torrent-name').textContent(), 'big.bin');
    assert.equal(
      (await card.getByTestId('rate-chart').locator('canvas').count()) > 0,
      true,
      'uPlot drew the rate chart',
    );
    assert.ok((await card.getByTestId('peer-row').count()) >= 1);

    // Pause: once the blocks already on the wire have landed, nothing more arrives.
    await card.getByTestId('pause-button').click();
    await until(
      'the paused badge',
      async () => (await card.getByTestId('status').textContent()) === 'paused',
    );
    await sleep(1500);
    const paused = await have();
    await sleep(2500);
    assert.equal(await have(), paused, 'no chunk arrives while paused');
    assert.ok(paused < 32, 'paused before the end');

    // A torrent added from the page downloads while the other one waits.
    await page.getByTestId('add-file').setInputFiles(small.torrent);
    await page.getByTestId('add-button').click();
    const smallCard = page.locator(`[data-testid="torrent-${small.infoHash}"]`);
    await until('the added torrent complete', async () => (await have(smallCard)) === 5);
    assert.equal(await smallCard.getByTestId('status').textContent(), 'seeding');
    await until('the added file on disk', async () =>
      sameBytes(join(h.dir, 'data', 'small.bin'), join(out, 'small.bin')),
    );
    assert.equal(await have(), paused, 'the paused torrent stayed paused');

    // Rate limits for the process.
    await page.getByTestId('limit-up').fill('100');
    await page.getByTestId('limit-apply').click();
    await until('the new limit shown', async () =>
      /up 100\.0 KiB\/s/.test((await page.getByTestId('limits').textContent()) ?? ''),
    );
    await page.getByTestId('limit-up').fill('0');
    await page.getByTestId('limit-apply').click();
    await until('the limit lifted', async () =>
      /up unlimited/.test((await page.getByTestId('limits').textContent()) ?? ''),
    );

    // A magnet link is taken (magnet-page.test.ts follows one to the end); one the page cannot use is
    // refused in words: a torrent already open, or a link that names nowhere to find peers.
    const magnetNote = async (uri: string, why: RegExp): Promise<void> => {
      await page.getByTestId('magnet-input').fill(uri);
      await page.getByTestId('magnet-button').click();
      await until(`the refusal ${why}`, async () => (await page.getByText(why).count()) === 1);
    };
    await magnetNote(
      `magnet:?xt=urn:btih:${small.infoHash}&dn=small.bin&x.pe=127.0.0.1:1`,
      /small\.bin is already open in this process/,
    );
    await magnetNote(`magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=x`, /magnet x names no tracker/);

    // The console of a download answers the commands that only look.
    await page.getByTestId('console-input').fill('/status');
    await page.getByTestId('console-run').click();
    await until('the /status reply', async () =>
      /chunks \d+\/32 {2}peers/.test((await page.getByTestId('console-out').textContent()) ?? ''),
    );

    await card.getByTestId('pause-button').click();
    await until('progress after resume', async () => (await have()) > paused);
    assert.notEqual(await card.getByTestId('status').textContent(), 'paused');
    assert.equal(await dl.exited(60_000), 0, dl.output());
    assert.match(dl.output(), /complete big\.bin/);
    assert.match(dl.output(), /complete small\.bin/);
    assert.ok(await sameBytes(join(h.dir, 'data', 'big.bin'), join(out, 'big.bin')));
    assert.deepEqual(errors, []);
    await page.close();
    await until('the page server gone with the process', async () => {
      try {
        await getWithHost(webPort, '/', '127.0.0.1');
        return false;
      } catch {
        return true;
      }
    });
  });

  test('peer page of the shell: a console command returns its reply; a foreign Host is refused', {
    skip: gate.skip,
  }, async () => {
    const errors: string[] = [];
    const torrent = join(h.dir, 'swarm.torrent');
    const peer = h.cs(['peer', torrent, '--dir', join(h.dir, 'mem'), '--port', '0', '--web', '127.0.0.1:0'], {
      stdin: 'pipe',
    });
    const url = (await peer.waitFor(/web page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const webPort = Number(new URL(url).port);
    assert.equal(await getWithHost(webPort, '/', 'rebind.attacker.example'), 403);
    assert.equal(await getWithHost(webPort, '/', `localhost:${webPort}`), 200);

    const page = await openPage(browser!, url, errors);
    const run = async (line: string, reply: RegExp): Promise<void> => {
      await page.getByTestId('console-input').fill(line);
      await page.getByTestId('console-run').click();
      await until(`the reply to ${line}`, async () =>
        reply.test((await page.getByTestId('console-out').textContent()) ?? ''),
      );
    };
    await run('/connect_tracker', /Tracker established connection to Peer\[127\.0\.0\.1:\d+\]/);
    await run('/see_peer_set', /Peer set \(\d+ other peers?\)/);
    await run('/check_tracker_connected', /Peer is connected to tracker/);
    // The same shell answers the terminal, one command at a time.
    peer.write('/check_tracker_connected');
    await peer.waitFor(/Peer is connected to tracker[\s\S]*Peer is connected to tracker/);
    assert.deepEqual(errors, []);
    await page.close();
    peer.child.stdin!.end();
    assert.equal(await peer.exited(), 0, peer.output());
  });
}
