import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { Harness } from '../integration/harness.js';
import { browserGate, launch, openPage, until } from './browser.js';
import { call } from './helpers.js';
import { fetchChunk, startWireSwarm } from './wire-swarm.js';

const gate = browserGate();
const h = new Harness();
let browser: Browser | undefined;

/** The rows of the diagram, as `dir kind summary`. */
type Row = { dir: string; kind: string; text: string };

/** Where each of `wanted` matches in `rows`, each after the one before; -1 for the first that does not. */
function inOrder(rows: readonly Row[], wanted: readonly ((r: Row) => boolean)[]): number[] {
  const at: number[] = [];
  let from = 0;
  for (const w of wanted) {
    const i = rows.findIndex((r, j) => j >= from && w(r));
    at.push(i);
    if (i < 0) break;
    from = i + 1;
  }
  return at;
}

if (gate.fail) {
  test('the Wire panel test has Chromium and the built pages', () => assert.fail(gate.fail));
} else {
  before(async () => {
    if (gate.skip) return;
    await h.setup();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await h.teardown();
  });

  test('Wire panel (--trace): /request_download T 2 shows, in order, the handshakes, the interest, and chunk 2 moving', {
    skip: gate.skip,
  }, async () => {
    const errors: string[] = [];
    const swarm = await startWireSwarm(h, 'wire.bin');
    const page = await openPage(browser!, swarm.url, errors);
    await page.getByTestId('wire').waitFor();
    // The page is open before the commands: their messages reach it through the event stream.
    await fetchChunk(swarm, 2);
    await until('the HAVE 2 in the diagram', async () =>
      (await page.getByTestId('wire-msg').allTextContents()).some((t) => t.includes('HAVE 2')),
    );
    assert.match((await page.getByTestId('wire-peer').textContent()) ?? '', new RegExp(swarm.seeder));
    const rows: Row[] = await page.getByTestId('wire-msg').evaluateAll((els) =>
      els.map((el) => ({
        dir: el.getAttribute('data-dir') ?? '',
        kind: el.getAttribute('data-kind') ?? '',
        text: el.textContent ?? '',
      })),
    );
    const is =
      (dir: string, kinds: string[], text?: RegExp) =>
      (r: Row): boolean =>
        r.dir === dir && kinds.includes(r.kind) && (text === undefined || text.test(r.text));
    const steps = inOrder(rows, [
      is('out', ['handshake']),
      is('in', ['handshake']),
      is('out', ['extended-handshake']),
      is('in', ['extended-handshake']),
      is('in', ['bitfield', 'have-all']),
      is('out', ['interested']),
      is('in', ['unchoke']),
      is('out', ['request'], /REQUEST 2:0\+16384/),
      is('in', ['piece'], /PIECE 2:0\+16384/),
      is('out', ['have'], /HAVE 2$/),
    ]);
    assert.ok(
      !steps.includes(-1),
      `not in order (${steps}):\n${rows.map((r) => `${r.dir} ${r.text}`).join('\n')}`,
    );
    // The right chunk, and only it: every block asked for and received is of chunk 2.
    const blocks = rows.filter((r) => r.kind === 'request' || r.kind === 'piece');
    assert.equal(blocks.length, 4, rows.map((r) => r.text).join('\n'));
    for (const r of blocks) assert.match(r.text, /(REQUEST|PIECE) 2:(0|16384)\+16384/);

    // A PIECE clicked: its fields, and its bytes from the length prefix on (9 + 16384 = 0x4009, id 7, index 2).
    await page.locator('[data-testid="wire-msg"][data-kind="piece"]').first().click();
    const fields = JSON.parse((await page.getByTestId('wire-fields').textContent()) ?? '{}');
    assert.deepEqual(fields, { kind: 'piece', index: 2, begin: 0, length: 16384 });
    assert.match(
      (await page.getByTestId('wire-bytes').textContent()) ?? '',
      /^0000 {2}00 00 40 09 07 00 00 00 02 00 00 00 00/,
    );
    assert.match(
      (await page.getByTestId('wire-detail').textContent()) ?? '',
      /16397 bytes on the wire, the first 64 shown/,
    );

    // Filtered by kind: no PIECE rows while its box is unticked.
    await page.getByTestId('wire-kind-piece').uncheck();
    assert.equal(await page.locator('[data-testid="wire-msg"][data-kind="piece"]').count(), 0);
    await page.getByTestId('wire-kind-piece').check();
    assert.equal(await page.locator('[data-testid="wire-msg"][data-kind="piece"]').count(), 2);

    // Paused, the diagram holds still while messages keep coming (chunk 3), and catches up on resume.
    await page.getByTestId('wire-pause').click();
    const held = await page.getByTestId('wire-msg').count();
    swarm.peer.write(`/request_download ${swarm.seeder} 3`);
    await swarm.peer.waitFor(/Chunk 3 received and verified/);
    await until('the paused note counting new messages', async () =>
      /paused; [1-9]\d* new message/.test((await page.getByTestId('wire-paused').textContent()) ?? ''),
    );
    assert.equal(await page.getByTestId('wire-msg').count(), held);
    await page.getByTestId('wire-pause').click();
    await until('HAVE 3 after resuming', async () =>
      (await page.getByTestId('wire-msg').allTextContents()).some((t) => t.includes('HAVE 3')),
    );

    // The backlog a page reads when it opens (or picks a connection) holds the same messages.
    const port = Number(new URL(swarm.url).port);
    const list = (await call(port, { path: '/api/wire' })).json<{ connections: { id: number }[] }>();
    assert.equal(list.connections.length, 1);
    const backlog = (await call(port, { path: `/api/wire/${list.connections[0]!.id}` })).json<{
      entries: { summary: string }[];
    }>();
    assert.ok(backlog.entries.some((e) => e.summary === 'HAVE 3'));
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('--trace without --web is refused in one line (exit 2)', { skip: gate.skip }, async () => {
    const p = h.cs(['seed', 'missing.torrent', '--data', 'x', '--trace']);
    assert.equal(await p.exited(), 2);
    assert.equal(p.output(), 'chunkswarm: --trace goes with --web HOST:PORT\n');
  });
}
