/**
 * The peer page takes a magnet link: pasted into the page of a running `chunkswarm download --web`, it
 * shows as 'fetching metadata', then downloads from the `x.pe` peer and completes; a magnet whose
 * torrent is unusable shows its failure in one line. Real processes, Chromium, loopback only.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Locator } from 'playwright-core';
import { freePort, Harness, makeFile, sameBytes } from '../integration/harness.js';
import { ScriptedSeeder } from '../magnet/helpers.js';
import { browserGate, launch, openPage, until } from './browser.js';

const gate = browserGate();
const h = new Harness();
let browser: Browser | undefined;
let announce = '';

async function create(
  name: string,
  bytes: number,
): Promise<{ data: string; torrent: string; infoHash: string }> {
  const data = join(h.dir, 'data', name);
  await makeFile(data, bytes, name);
  const torrent = join(h.dir, `${name}.torrent`);
  const c = h.cs(['create', data, '--tracker', announce, '--piece-length', String(64 * 1024), '-o', torrent]);
  assert.equal(await c.exited(), 0, c.output());
  return { data, torrent, infoHash: c.output().split('\n')[0]!.trim() };
}

const have = async (card: Locator): Promise<number> =>
  Number(await card.getByTestId('progress').getAttribute('data-have'));

if (gate.fail) {
  test('the magnet page test has Chromium and the built pages', () => assert.fail(gate.fail));
} else {
  before(async () => {
    if (gate.skip) return;
    await h.setup();
    announce = (await h.tracker()).announce;
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await h.teardown();
  });

  test('peer page: a pasted magnet link fetches its metadata, downloads and completes; a bad one fails in one line', {
    skip: gate.skip,
  }, async () => {
    const errors: string[] = [];
    const first = await create('first.bin', 200_000);
    const film = await create('film.bin', 700_000);
    const out = join(h.dir, 'out');
    // The download starts with a torrent nobody seeds yet, so it is still running when the magnet is pasted;
    // --seed keeps it (and its page) up once everything is complete.
    const dl = h.cs([
      'download',
      first.torrent,
      '--out',
      out,
      '--port',
      '0',
      '--web',
      '127.0.0.1:0',
      '--seed',
    ]);
    const url = (await dl.waitFor(/web page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const page = await openPage(browser!, url, errors);
    const firstCard = page.locator(`[data-testid="torrent-${first.infoHash}"]`);
    await until('the first torrent on the page', async () => (await firstCard.count()) === 1);
    const addNote = page.getByTestId('add-torrent').getByTestId('note');
    const paste = async (uri: string): Promise<void> => {
      await page.getByTestId('magnet-input').fill(uri);
      await page.getByTestId('magnet-button').click();
    };

    // A torrent whose metadata is right for its infohash but names a file outside the download folder.
    const bad = Buffer.from(
      'd6:lengthi16384e4:name2:..12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae',
    );
    const badHash = createHash('sha1').update(bad).digest();
    const evil = await new ScriptedSeeder(bad, badHash, 'honest').listen();
    try {
      await paste(`magnet:?xt=urn:btih:${badHash.toString('hex')}&dn=evil&x.pe=${evil.address}`);
      const evilCard = page.locator(`[data-testid="torrent-${badHash.toString('hex')}"]`);
      await until(
        'the failure on the page',
        async () => (await evilCard.getByTestId('status').textContent()) === 'failed',
      );
      const line = (await evilCard.getByTestId('note').textContent()) ?? '';
      assert.match(line, /^the torrent of magnet evil is not usable: .*unsafe path/);
      assert.doesNotMatch(line, /\n/);
    } finally {
      await evil.close();
    }

    // The film's magnet names only a peer (x.pe), no tracker; that peer is not up yet.
    const port = await freePort();
    await paste(`magnet:?xt=urn:btih:${film.infoHash}&dn=film.bin&x.pe=127.0.0.1:${port}`);
    await until(
      'the acknowledgement',
      async () => (await addNote.textContent()) === 'fetching metadata for film.bin',
    );
    assert.equal(await page.getByTestId('magnet-input').inputValue(), '', 'the field is cleared');
    const filmCard = page.locator(`[data-testid="torrent-${film.infoHash}"]`);
    await until(
      'the film fetching',
      async () => (await filmCard.getByTestId('status').textContent()) === 'fetching metadata',
    );
    assert.equal(await filmCard.getByTestId('torrent-name').textContent(), 'film.bin');

    // The first torrent completes while the magnet still waits; the download waits for the magnet too.
    const seedFirst = h.cs(['seed', first.torrent, '--data', first.data, '--port', '0']);
    await seedFirst.waitFor(/^seeding first\.bin on /m);
    await until('the first torrent complete', async () => (await have(firstCard)) === 4);
    assert.equal(await filmCard.getByTestId('status').textContent(), 'fetching metadata');

    // Slow enough that the page sees the film downloading before it completes.
    const seedFilm = h.cs([
      'seed',
      film.torrent,
      '--data',
      film.data,
      '--port',
      String(port),
      '--upload-limit',
      '128KiB',
    ]);
    await seedFilm.waitFor(/^seeding film\.bin on /m);
    await until(
      'the film downloading',
      async () => (await filmCard.getByTestId('status').textContent()) === 'downloading',
    );
    assert.equal(await filmCard.getByTestId('torrent-name').textContent(), 'film.bin');
    await until('the film complete', async () => (await have(filmCard)) === 11);
    await until(
      'the film seeding',
      async () => (await filmCard.getByTestId('status').textContent()) === 'seeding',
    );

    // Done only when both are: had the command not waited for the magnet, it would have named first.bin alone.
    await dl.waitFor(/^seeding first\.bin, film\.bin on /m);
    assert.match(
      dl.output(),
      /^fetching the metadata of film\.bin from peers \(magnet link from the web page\)$/m,
    );
    assert.match(dl.output(), /^web page: the torrent of magnet evil is not usable/m);
    assert.match(dl.output(), /^complete first\.bin/m);
    assert.match(dl.output(), /^complete film\.bin/m);
    assert.ok(await sameBytes(film.data, join(out, 'film.bin')));
    assert.ok(await sameBytes(first.data, join(out, 'first.bin')));
    assert.deepEqual(errors, []);
    await page.close();
  });
}
