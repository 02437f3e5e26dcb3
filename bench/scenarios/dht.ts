/**
 * Figure 5, the DHT (BEP 5): lookup time and messages per lookup in simulated networks of chunkswarm
 * nodes (src/dht/sim.ts: real DhtNode code and real KRPC datagrams, a simulated clock, a one-way delay
 * uniform in 10-100 ms). Each network is built by joining its nodes one after another through the first;
 * then one node announces an infohash and randomly chosen nodes look it up with get_peers.
 *
 * Reported per size: virtual time to the first peer and to the end of the lookup (median, p90), queries
 * and datagrams per lookup, share of lookups that found the peer, and the wall time the simulation took
 * per lookup (the CPU cost of every node's work on the way, on this machine). Then the same at up to
 * 200 nodes over real UDP sockets on loopback, all in this process, timed by the wall clock.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SimNetwork } from '../../src/dht/sim.js';
import { type DhtUdp, startDhtUdp } from '../../src/dht/udp.js';
import { seededGenerator as seededRandom } from '../../src/shared/random.js';
import { type FigureResult, fmt, type Row, type ScenarioContext } from '../lib/context.js';
import { round } from '../lib/stats.js';

export interface DhtFigure {
  nodes: number;
  lookups: number;
  found: number;
  joinWallSeconds: number | null;
  joinDatagramsPerNode: number | null;
  tableMedian: number;
  firstPeerMs: { median: number; p90: number };
  lookupMs: { median: number; p90: number };
  queriesPerLookup: { median: number; p90: number };
  datagramsPerLookup: { median: number; p90: number };
  wallMsPerLookup: number | null;
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const summary = (v: number[]) => ({
  median: Math.round(quantile(v, 0.5)),
  p90: Math.round(quantile(v, 0.9)),
});

/** Builds a network of `n` nodes and runs `lookups` get_peers lookups in it. */
export async function measureDht(n: number, lookups: number, seed = 1): Promise<DhtFigure> {
  const net = new SimNetwork({ seed, minLatencyMs: 10, maxLatencyMs: 100 });
  const pick = seededRandom(seed + 1);
  const t0 = performance.now();
  const { nodes } = await net.grow(n);
  const joinWallSeconds = (performance.now() - t0) / 1000;
  const joinDatagrams = net.counters.datagrams;
  const tables = nodes.map((x) => x.stats().nodes);

  const infoHash = net.randomBytes(20);
  const announcer = Math.floor(pick() * n);
  await net.run(nodes[announcer]!.announce(infoHash, 6881));
  await net.advance(1000, 100);

  const firstPeer: number[] = [];
  const total: number[] = [];
  const queries: number[] = [];
  const datagrams: number[] = [];
  let found = 0;
  let wall = 0;
  for (let i = 0; i < lookups; i++) {
    let who = Math.floor(pick() * n);
    if (who === announcer) who = (who + 1) % n;
    const start = net.clock.now();
    const before = net.counters.datagrams;
    let firstAt: number | undefined;
    const w0 = performance.now();
    const r = await net.run(
      nodes[who]!.getPeers(infoHash, () => {
        firstAt ??= net.clock.now();
      }),
      60_000,
      1,
    );
    wall += performance.now() - w0;
    total.push(net.clock.now() - start);
    if (firstAt !== undefined) firstPeer.push(firstAt - start);
    if (r.peers.length > 0) found++;
    queries.push(r.queries);
    datagrams.push(net.counters.datagrams - before);
    // Quiet time between lookups, so one lookup's answers are not counted in the next.
    await net.advance(3000, 100);
  }
  for (const x of nodes) x.close();
  return {
    nodes: n,
    lookups,
    found,
    joinWallSeconds: round(joinWallSeconds, 1),
    joinDatagramsPerNode: round(joinDatagrams / n, 1),
    tableMedian: quantile(tables, 0.5),
    firstPeerMs: summary(firstPeer),
    lookupMs: summary(total),
    queriesPerLookup: summary(queries),
    datagramsPerLookup: summary(datagrams),
    wallMsPerLookup: round(wall / lookups, 1),
  };
}

export interface DhtUdpFigure {
  nodes: number;
  lookups: number;
  found: number;
  joinWallSeconds: number | null;
  lookupWallMs: { median: number; p90: number };
  queriesPerLookup: { median: number; p90: number };
}

/**
 * The same lookups over real UDP sockets on loopback, all nodes in this process: wall-clock time of a
 * lookup when every hop is a real datagram (and every node shares this process's one core).
 */
export async function measureDhtUdp(n: number, lookups: number, seed = 1): Promise<DhtUdpFigure> {
  const pick = seededRandom(seed);
  const t0 = performance.now();
  const nodes: DhtUdp[] = [];
  try {
    const first = await startDhtUdp({ host: '127.0.0.1', port: 0 });
    nodes.push(first);
    first.node.start([]);
    for (let i = 1; i < n; i++) {
      const x = await startDhtUdp({ host: '127.0.0.1', port: 0 });
      nodes.push(x);
      x.node.start([{ host: '127.0.0.1', port: first.port }]);
      await sleep(10);
    }
    // Joined when no lookup is left running anywhere.
    while (nodes.some((x) => x.node.stats().lookups > 0)) await sleep(200);
    const joinWallSeconds = (performance.now() - t0) / 1000;
    const infoHash = randomBytes(20);
    const announcer = Math.floor(pick() * n);
    await nodes[announcer]!.node.announce(infoHash, 6881);
    const wall: number[] = [];
    const queries: number[] = [];
    let found = 0;
    for (let i = 0; i < lookups; i++) {
      let who = Math.floor(pick() * n);
      if (who === announcer) who = (who + 1) % n;
      const w0 = performance.now();
      const r = await nodes[who]!.node.getPeers(infoHash);
      wall.push(performance.now() - w0);
      queries.push(r.queries);
      if (r.peers.length > 0) found++;
    }
    return {
      nodes: n,
      lookups,
      found,
      joinWallSeconds: round(joinWallSeconds, 1),
      lookupWallMs: summary(wall),
      queriesPerLookup: summary(queries),
    };
  } finally {
    for (const x of nodes) await x.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDht(ctx: ScenarioContext): Promise<FigureResult> {
  const rows: Row[] = [];
  const data: Record<string, unknown> = { latencyModel: 'one-way uniform 10-100 ms, no loss', sizes: [] };
  for (const n of ctx.opts.dhtNodes) {
    ctx.log(`dht: building a network of ${n} nodes`);
    const f = await measureDht(n, ctx.opts.dhtLookups);
    (data.sizes as DhtFigure[]).push(f);
    ctx.log(
      `dht ${n}: lookup ${f.lookupMs.median} ms median (first peer ${f.firstPeerMs.median} ms), ` +
        `${f.queriesPerLookup.median} queries, ${f.found}/${f.lookups} found, join ${f.joinWallSeconds} s wall`,
    );
    rows.push(
      {
        figure: `DHT ${n} nodes: get_peers lookup, virtual ms, median / p90 (first peer)`,
        chunkswarm: `${f.lookupMs.median} / ${f.lookupMs.p90} (${f.firstPeerMs.median} / ${f.firstPeerMs.p90})`,
        reference: '',
        ratio: '',
        target: '',
        verdict: '',
      },
      {
        figure: `DHT ${n} nodes: queries / datagrams per lookup, median / p90`,
        chunkswarm: `${f.queriesPerLookup.median} / ${f.queriesPerLookup.p90}, ${f.datagramsPerLookup.median} / ${f.datagramsPerLookup.p90}`,
        reference: '',
        ratio: '',
        target: '',
        verdict: '',
      },
      {
        figure: `DHT ${n} nodes: found, wall ms per lookup (simulating every node)`,
        chunkswarm: `${f.found}/${f.lookups}, ${fmt(f.wallMsPerLookup, 1)}`,
        reference: '',
        ratio: '',
        target: `${f.lookups}/${f.lookups} found`,
        verdict: f.found === f.lookups ? 'met' : 'MISSED',
      },
    );
  }
  const udpNodes = Math.min(200, ...ctx.opts.dhtNodes);
  ctx.log(`dht: ${udpNodes} nodes over loopback UDP in this process`);
  const u = await measureDhtUdp(udpNodes, ctx.opts.dhtLookups);
  data.udp = u;
  rows.push({
    figure: `DHT ${udpNodes} nodes, real UDP on loopback (one process): lookup wall ms, median / p90`,
    chunkswarm: `${u.lookupWallMs.median} / ${u.lookupWallMs.p90} (${u.queriesPerLookup.median} queries, ${u.found}/${u.lookups} found)`,
    reference: '',
    ratio: '',
    target: `${u.lookups}/${u.lookups} found`,
    verdict: u.found === u.lookups ? 'met' : 'MISSED',
  });
  return { rows, data };
}
