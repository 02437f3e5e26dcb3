import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { encodeRatesParam, type PeerRate } from '../../src/tracker/protocol/index.js';
import { startTracker, type TrackerHandle } from '../../src/tracker/server/index.js';
import { MAX_GRAPH_NODES, STRIP_CELLS, swarmGraph } from '../../src/web/swarm-graph.js';
import { TrackerWeb } from '../../src/web/tracker-web.js';
import type { TrackerState } from '../../src/web/types.js';
import { announceQuery, failureOf, hash } from '../tracker/helpers.js';
import { browserGate, launch, openPage, until } from './browser.js';
import { call } from './helpers.js';

const peer = (n: number, extra: Partial<Parameters<typeof swarmGraph>[0][number]> = {}) => ({
  ip: '127.0.0.1',
  port: 6000 + n,
  bitfield: undefined,
  pieces: undefined,
  have: undefined,
  left: 100,
  rates: undefined,
  ...extra,
});

describe('swarmGraph', () => {
  it('joins both ends of a transfer into one edge, keeping the larger figure, fastest first', () => {
    const g = swarmGraph(
      [
        peer(1, { left: 0, rates: [{ ip: '127.0.0.1', port: 6002, down: 0, up: 900 }] }),
        peer(2, {
          rates: [
            { ip: '127.0.0.1', port: 6001, down: 1000, up: 0 },
            { ip: '127.0.0.1', port: 6003, down: 0, up: 50 },
          ],
        }),
        peer(3),
      ],
      null,
    );
    assert.deepEqual(
      g.nodes.map((n) => [n.id, n.seeder, n.reports, n.known]),
      [
        ['127.0.0.1:6001', true, true, true],
        ['127.0.0.1:6002', false, true, true],
        ['127.0.0.1:6003', false, false, true],
      ],
    );
    assert.deepEqual(g.edges, [
      { from: '127.0.0.1:6001', to: '127.0.0.1:6002', rate: 1000 },
      { from: '127.0.0.1:6002', to: '127.0.0.1:6003', rate: 50 },
    ]);
  });

  it('adds addresses outside the peer set as unknown nodes, and caps nodes', () => {
    const g = swarmGraph([peer(1, { rates: [{ ip: '10.9.9.9', port: 51413, down: 10, up: 0 }] })], null);
    assert.deepEqual(
      g.nodes.map((n) => [n.id, n.known]),
      [
        ['127.0.0.1:6001', true],
        ['10.9.9.9:51413', false],
      ],
    );
    const many = Array.from({ length: MAX_GRAPH_NODES + 5 }, (_, i) => peer(i + 1));
    const big = swarmGraph(many, null);
    assert.equal(big.nodes.length, MAX_GRAPH_NODES);
    assert.equal(big.nodesOmitted, 5);
  });

  it("draws each node's chunk strip from its bitfield; a seeder is full, others unknown", () => {
    // 64 chunks: the first half held
    const bits = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    const g = swarmGraph([peer(1, { bitfield: bits, pieces: 64 }), peer(2, { left: 0 }), peer(3)], 64);
    assert.deepEqual(g.nodes[0]!.strip, [...Array(16).fill(1), ...Array(16).fill(0)]);
    assert.equal(g.nodes[0]!.strip!.length, STRIP_CELLS);
    assert.deepEqual(g.nodes[1]!.strip, Array(STRIP_CELLS).fill(1));
    assert.equal(g.nodes[2]!.strip, null);
  });
});

/** Announces made by hand: three chunkswarm peers of one swarm of 8 chunks and the rates they report. */
async function liveSwarm(port: number, h: number): Promise<void> {
  const announce = async (n: number, bits: number, left: number, rates: PeerRate[]) => {
    const r = encodeRatesParam(rates);
    const q = announceQuery(
      h,
      n,
      `&left=${left}&cs_pieces=8&cs_bitfield=${Buffer.from([bits]).toString('base64url')}&cs_name=graph.bin${r ? `&cs_rates=${r}` : ''}`,
    );
    const res = await call(port, { path: `/announce?${q}` });
    assert.equal(failureOf(res.body), undefined);
  };
  const at = (n: number) => ({ ip: '127.0.0.1', port: 6000 + n });
  await announce(1, 0xff, 0, [
    { ...at(2), down: 0, up: 400_000 },
    { ...at(3), down: 0, up: 100_000 },
  ]);
  await announce(2, 0xf0, 1000, [
    { ...at(1), down: 400_000, up: 0 },
    { ...at(3), down: 0, up: 30_000 },
  ]);
  await announce(3, 0x0c, 2000, [{ ...at(1), down: 100_000, up: 0 }]);
}

describe('tracker page swarm graph', () => {
  let tracker: TrackerHandle;
  let web: TrackerWeb;
  before(async () => {
    let w: TrackerWeb | undefined;
    tracker = await startTracker({ port: 0, onEvent: (e) => w?.onTrackerEvent(e) });
    web = new TrackerWeb(tracker);
    w = web;
    await web.start();
    await liveSwarm(tracker.port, 21);
  });
  after(async () => {
    web.close();
    await tracker.close();
  });

  it('is in the page state, built from the announced rates', async () => {
    const s = (await call(tracker.port, { path: '/api/state' })).json<TrackerState>();
    const sw = s.swarms.find((x) => x.infoHash === hash(21).toString('hex'))!;
    assert.ok(sw.graph);
    assert.equal(sw.graph.nodes.length, 3);
    assert.deepEqual(
      sw.graph.edges.map((e) => `${e.from.slice(-4)}>${e.to.slice(-4)} ${e.rate}`),
      ['6001>6002 400000', '6001>6003 100000', '6002>6003 30000'],
    );
  });

  const gate = browserGate();
  let browser: Browser | undefined;
  after(() => browser?.close());
  it('draws peers as nodes with chunk strips and transfers as arrows in Chromium', {
    skip: gate.skip,
  }, async () => {
    if (gate.fail) assert.fail(gate.fail);
    browser = await launch();
    const errors: string[] = [];
    const page = await openPage(browser, `http://127.0.0.1:${tracker.port}/`, errors);
    const swarm = page.locator(`[data-testid="swarm-${hash(21).toString('hex')}"]`);
    const graph = swarm.getByTestId('swarm-graph');
    await until(
      'the graph with three nodes',
      async () => (await graph.getByTestId('graph-node').count()) === 3,
    );
    const nodes = await graph
      .getByTestId('graph-node')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-address')));
    assert.deepEqual(nodes, ['127.0.0.1:6001', '127.0.0.1:6002', '127.0.0.1:6003']);
    const edges = await graph.getByTestId('graph-edge').evaluateAll((els) =>
      els.map((e) => ({
        from: e.getAttribute('data-from'),
        to: e.getAttribute('data-to'),
        width: Number(e.getAttribute('stroke-width')),
      })),
    );
    assert.deepEqual(
      edges.map((e) => `${e.from}>${e.to}`),
      ['127.0.0.1:6001>127.0.0.1:6002', '127.0.0.1:6001>127.0.0.1:6003', '127.0.0.1:6002>127.0.0.1:6003'],
    );
    assert.ok(
      edges[0]!.width > edges[1]!.width && edges[1]!.width > edges[2]!.width,
      'width follows the rate',
    );
    assert.equal(await graph.getByTestId('graph-strip').count(), 3);
    // nodes sit apart on the circle
    const boxes = await graph
      .locator('circle')
      .evaluateAll((els) => els.map((e) => [Number(e.getAttribute('cx')), Number(e.getAttribute('cy'))]));
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        assert.ok(Math.hypot(boxes[i]![0]! - boxes[j]![0]!, boxes[i]![1]! - boxes[j]![1]!) > 40);

    // a new transfer shows up live
    const r = encodeRatesParam([
      { ip: '127.0.0.1', port: 6002, down: 0, up: 0 },
      { ip: '127.0.0.1', port: 6001, down: 0, up: 77_000 },
    ]);
    await call(tracker.port, {
      path: `/announce?${announceQuery(21, 3, `&left=2000&cs_pieces=8&cs_bitfield=DA&cs_rates=${r}`)}`,
    });
    await until(
      'the new arrow',
      async () =>
        (await graph.locator('[data-testid="graph-edge"][data-from="127.0.0.1:6003"]').count()) === 1,
    );
    assert.deepEqual(errors, []);
  });
});
