import { formatAddress } from '../shared/types.js';
import { isSeeder } from '../tracker/protocol/announce-response.js';
import type { PeerRecord } from '../tracker/server/store.js';
import type { SwarmGraph, SwarmGraphNode } from './types.js';

/** Nodes and edges drawn at most: a graph beyond that is a hairball, and the page must stay light. */
export const MAX_GRAPH_NODES = 48;
export const MAX_GRAPH_EDGES = 240;
/** Cells in each node's chunk strip. */
export const STRIP_CELLS = 32;

type GraphPeer = Pick<PeerRecord, 'ip' | 'port' | 'bitfield' | 'pieces' | 'have' | 'left' | 'rates'>;

/**
 * The swarm as a graph for the tracker's page: peers as nodes (with a chunk strip), transfers as
 * edges from sender to receiver weighted by bytes/s, from the `cs_rates` chunkswarm peers announce.
 * Both ends of a transfer may report it (one as down, the other as up); the larger figure is kept,
 * since each end measured the same flow over a slightly different window. A reported address no
 * peer of the swarm announced (a peer of another tracker, or a client behind NAT) becomes a node of
 * its own, marked unknown. Order is deterministic (peers first as given, then unknown addresses
 * sorted), so the page's circular layout does not jump between updates.
 */
export function swarmGraph(peers: readonly GraphPeer[], pieces: number | null): SwarmGraph {
  const nodes: SwarmGraphNode[] = [];
  const ids = new Set<string>();
  let omitted = 0;
  for (const p of peers) {
    const id = formatAddress(p.ip, p.port);
    if (ids.has(id)) continue;
    if (nodes.length >= MAX_GRAPH_NODES) {
      omitted++;
      continue;
    }
    ids.add(id);
    const seeder = isSeeder(p);
    nodes.push({ id, known: true, seeder, reports: p.rates !== undefined, strip: strip(p, seeder, pieces) });
  }
  const flows = new Map<string, { from: string; to: string; rate: number }>();
  const flow = (from: string, to: string, rate: number) => {
    if (rate <= 0 || from === to) return;
    const key = `${from}>${to}`;
    const cur = flows.get(key);
    if (!cur) flows.set(key, { from, to, rate });
    else cur.rate = Math.max(cur.rate, rate);
  };
  for (const p of peers) {
    if (!p.rates) continue;
    const me = formatAddress(p.ip, p.port);
    if (!ids.has(me)) continue;
    for (const r of p.rates) {
      const other = formatAddress(r.ip, r.port);
      flow(other, me, r.down);
      flow(me, other, r.up);
    }
  }
  const edges = [...flows.values()].sort(
    (a, b) => b.rate - a.rate || a.from.localeCompare(b.from) || a.to.localeCompare(b.to),
  );
  const strangers = new Set<string>();
  for (const e of edges) for (const end of [e.from, e.to]) if (!ids.has(end)) strangers.add(end);
  for (const id of [...strangers].sort()) {
    if (nodes.length >= MAX_GRAPH_NODES) {
      omitted++;
      continue;
    }
    ids.add(id);
    nodes.push({ id, known: false, seeder: false, reports: false, strip: null });
  }
  const shown = edges.filter((e) => ids.has(e.from) && ids.has(e.to));
  return {
    nodes,
    edges: shown.slice(0, MAX_GRAPH_EDGES),
    nodesOmitted: omitted,
    edgesOmitted: edges.length - Math.min(shown.length, MAX_GRAPH_EDGES),
  };
}

/** Fraction of each run of chunks the peer holds: all for a seeder, unknown without a bitfield. */
function strip(p: GraphPeer, seeder: boolean, pieces: number | null): number[] | null {
  const n = pieces ?? p.pieces;
  if (n === undefined || n === null || n <= 0) return null;
  const cells = Math.min(STRIP_CELLS, n);
  if (seeder) return new Array<number>(cells).fill(1);
  const bf = p.bitfield;
  if (!bf || p.pieces !== n) return null;
  const out: number[] = [];
  for (let c = 0; c < cells; c++) {
    const from = Math.floor((c * n) / cells);
    const to = Math.floor(((c + 1) * n) / cells);
    let held = 0;
    for (let i = from; i < to; i++) if ((bf[i >> 3]! & (0x80 >> (i & 7))) !== 0) held++;
    out.push(to > from ? held / (to - from) : 0);
  }
  return out;
}
