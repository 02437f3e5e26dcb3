import { render } from 'preact';
import { useState } from 'preact/hooks';
import { countOf } from '../src/shared/plural.js';
import type { SwarmGraph, SwarmView, TrackerState, TrackerStatsView } from '../src/web/types.js';
import {
  ChunkGrid,
  errorText,
  fmtAgo,
  fmtBytes,
  fmtPercent,
  fmtRate,
  LiveBadge,
  Note,
  post,
  Stat,
  useLiveState,
  useNote,
} from './common.js';
import './style.css';

function App() {
  const { state, live } = useLiveState<TrackerState>();
  if (!state) return <p class="loading">connecting…</p>;
  const peers = state.swarms.reduce((n, s) => n + s.seeders + s.leechers, 0);
  return (
    <>
      <header>
        <h1>
          chunkswarm <span class="dim">tracker</span>
        </h1>
        <div class="header-info">
          <span>
            announce URL <code data-testid="announce-url">{state.announceUrl}</code>
          </span>
          <span data-testid="totals">
            {state.swarms.length + state.swarmsOmitted} swarm(s), {peers} peer(s), {state.registered} .torrent
            file(s)
          </span>
          <LiveBadge live={live} />
        </div>
      </header>
      <main>
        <Upload />
        {state.swarms.length === 0 ? (
          <p class="empty">
            No swarms yet. Peers appear here when they announce to <code>{state.announceUrl}</code>.
          </p>
        ) : (
          state.swarms.map((s) => <Swarm key={s.infoHash} swarm={s} now={state.now} />)
        )}
        {state.swarmsOmitted > 0 && <p class="dim">{state.swarmsOmitted} more swarm(s) not shown.</p>}
        {state.stats && <Stats stats={state.stats} />}
      </main>
    </>
  );
}

/** This process's counters (the same as /metrics): no addresses, so shown to whoever sees the page. */
function Stats({ stats: m }: { stats: TrackerStatsView }) {
  return (
    <section class="card" id="stats" data-testid="stats">
      <div class="swarm-head">
        <h2>Stats</h2>
        <span class="links">
          <a href="/metrics">/metrics</a>
        </span>
      </div>
      <div class="stats">
        <Stat label="HTTP announces" value={m.announcesHttp} testid="stat-http" />
        <Stat label="UDP announces" value={m.announcesUdp} testid="stat-udp" />
        <Stat label="scrapes" value={m.scrapes} />
        <Stat label="failed" value={m.failed} />
        <Stat label="store errors" value={m.storeErrors} />
        <Stat label="mean announce" value={m.meanAnnounceMs === null ? '–' : `${m.meanAnnounceMs.toFixed(2)} ms`} />
        <Stat label="store" value={m.store} testid="stat-store" />
      </div>
    </section>
  );
}

function Upload() {
  const [file, setFile] = useState<File | undefined>(undefined);
  const [note, say] = useNote();
  const send = async (e: Event) => {
    e.preventDefault();
    if (!file) return say('choose a .torrent file first', true);
    try {
      const r = await post<{ name: string; infoHash: string }>(
        '/api/torrents',
        file,
        'application/x-bittorrent',
      );
      say(`registered ${r.name} (${r.infoHash})`);
    } catch (err) {
      say(errorText(err), true);
    }
  };
  return (
    <form class="card upload" onSubmit={send}>
      <label>
        Register a .torrent (names its swarm and offers the file here){' '}
        <input
          type="file"
          accept=".torrent,application/x-bittorrent"
          data-testid="upload-file"
          onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0])}
        />
      </label>
      <button type="submit" data-testid="upload-button">
        Register
      </button>
      <Note note={note} />
    </form>
  );
}

function Swarm({ swarm: s, now }: { swarm: SwarmView; now: number }) {
  const a = s.availability;
  const max = a ? Math.max(1, ...a.cells) : 1;
  const rarest = a && a.cells.length > 0 ? Math.min(...a.cells) : undefined;
  return (
    <section class="card swarm" data-testid={`swarm-${s.infoHash}`}>
      <div class="swarm-head">
        <h2 data-testid="swarm-name">{s.name ?? 'unnamed swarm'}</h2>
        <code class="hash">{s.infoHash}</code>
        <span class="links">
          {s.hasTorrent && (
            <a href={`/torrents/${s.infoHash}.torrent`} download data-testid="torrent-link">
              .torrent
            </a>
          )}
          <a href={s.magnet} data-testid="magnet-link">
            magnet
          </a>
        </span>
      </div>
      <div class="stats">
        <Stat label="seeders" value={s.seeders} testid="seeders" />
        <Stat label="leechers" value={s.leechers} testid="leechers" />
        <Stat label="completed" value={s.completed} testid="completed" />
        <Stat label="chunks" value={s.pieces ?? '?'} />
        {s.size !== null && <Stat label="size" value={fmtBytes(s.size)} />}
      </div>
      {a && (
        <div class="availability">
          <h3>
            Chunk availability{' '}
            <span class="dim">
              (peers holding each chunk
              {a.chunksPerCell > 1 ? `; a cell is the rarest of ${a.chunksPerCell} chunks` : ''}
              {a.peersUnknown > 0 ? `; ${countOf(a.peersUnknown, 'peer')} did not say which chunks they hold` : ''})
            </span>
          </h3>
          <ChunkGrid
            count={a.cells.length}
            version={a.cells.join(',')}
            color={(i) => heat(a.cells[i]!, max)}
            describe={(i) =>
              `${chunkRange(i, a.chunksPerCell, s.pieces ?? 0)}: held by ${countOf(a.cells[i]!, 'peer')}`
            }
            label={`availability of ${a.cells.length} chunks`}
            testid="availability"
          />
          <div class="legend">
            {legendSteps(max).map((n) => (
              <span key={n}>
                <span class="swatch" style={{ background: heat(n, max) }} /> {n}
              </span>
            ))}
            <span> peers</span>
            {rarest !== undefined && <span data-testid="rarest"> — rarest chunk held by {rarest}</span>}
          </div>
        </div>
      )}
      {s.graph && s.graph.nodes.length > 0 && <GraphView graph={s.graph} />}
      <h3>Peer set</h3>
      {s.peers.length === 0 ? (
        <p class="dim">No peers right now.</p>
      ) : (
        <table class="peers">
          <thead>
            <tr>
              <th>address</th>
              <th>client</th>
              <th>progress</th>
              <th>uploaded</th>
              <th>downloaded</th>
              <th>last seen</th>
            </tr>
          </thead>
          <tbody>
            {s.peers.map((p) => (
              <tr key={p.address} data-testid="peer-row">
                <td>
                  <code>{p.address}</code>
                  {p.seeder && <span class="badge seed">seeder</span>}
                </td>
                <td>{p.client}</td>
                <td>
                  {p.progress === null ? (
                    '?'
                  ) : (
                    <span class="mini-bar" title={p.have !== null ? `${p.have} chunks` : undefined}>
                      <span style={{ width: `${p.progress * 100}%` }} />
                      <em>{fmtPercent(p.progress)}</em>
                    </span>
                  )}
                </td>
                <td>{fmtBytes(p.uploaded)}</td>
                <td>{fmtBytes(p.downloaded)}</td>
                <td>{fmtAgo(now - p.lastSeen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {s.peersOmitted > 0 && <p class="dim">{s.peersOmitted} more peer(s) not shown.</p>}
    </section>
  );
}

const GRAPH_W = 560;
const GRAPH_H = 440;
const NODE_R = 9;

/**
 * The swarm as a graph: peers on a circle in the server's order (seeders first, then by address),
 * so a node keeps its place between updates; an arrow per transfer from sender to receiver, as
 * thick as its share of the fastest one; under each node its chunk strip.
 */
function GraphView({ graph }: { graph: SwarmGraph }) {
  const n = graph.nodes.length;
  const cx = GRAPH_W / 2;
  const cy = GRAPH_H / 2 - 10;
  const radius = n === 1 ? 0 : Math.min(150, 50 + n * 14);
  const at = new Map<string, { x: number; y: number; ox: number; oy: number }>();
  graph.nodes.forEach((node, i) => {
    const a = (2 * Math.PI * i) / n - Math.PI / 2;
    // ox/oy: the outward direction, where the node's label and strip go, clear of the arrows inside.
    at.set(node.id, {
      x: cx + radius * Math.cos(a),
      y: cy + radius * Math.sin(a),
      ox: n === 1 ? 0 : Math.cos(a),
      oy: n === 1 ? 1 : Math.sin(a),
    });
  });
  const fastest = Math.max(1, ...graph.edges.map((e) => e.rate));
  return (
    <div class="graph">
      <h3>
        Swarm graph{' '}
        <span class="dim">
          (arrows: sender to receiver, width by rate, from the rates chunkswarm peers report
          {graph.nodesOmitted > 0 ? `; ${countOf(graph.nodesOmitted, 'peer')} not drawn` : ''}
          {graph.edgesOmitted > 0 ? `; ${countOf(graph.edgesOmitted, 'slow transfer')} not drawn` : ''})
        </span>
      </h3>
      <svg
        viewBox={`0 0 ${GRAPH_W} ${GRAPH_H}`}
        width={GRAPH_W}
        height={GRAPH_H}
        role="img"
        aria-label={`swarm graph of ${n} peers and ${graph.edges.length} transfers`}
        data-testid="swarm-graph"
      >
        <defs>
          <marker id="cs-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" fill="#5a7fb5" />
          </marker>
        </defs>
        {graph.edges.map((e) => {
          const p = at.get(e.from);
          const q = at.get(e.to);
          if (!p || !q) return null;
          const dx = q.x - p.x;
          const dy = q.y - p.y;
          const len = Math.hypot(dx, dy) || 1;
          // Bend each arrow to its left, so A->B and B->A stay apart; stop it at the node's rim.
          const mx = (p.x + q.x) / 2 - (dy / len) * 16;
          const my = (p.y + q.y) / 2 + (dx / len) * 16;
          const ex = q.x - ((q.x - mx) / Math.hypot(q.x - mx, q.y - my)) * (NODE_R + 2);
          const ey = q.y - ((q.y - my) / Math.hypot(q.x - mx, q.y - my)) * (NODE_R + 2);
          return (
            <path
              key={`${e.from}>${e.to}`}
              d={`M${p.x.toFixed(1)},${p.y.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`}
              fill="none"
              stroke="#5a7fb5"
              stroke-opacity="0.75"
              stroke-width={(1 + 5 * (e.rate / fastest)).toFixed(2)}
              marker-end="url(#cs-arrow)"
              data-testid="graph-edge"
              data-from={e.from}
              data-to={e.to}
              data-rate={e.rate}
            >
              <title>{`${e.from} → ${e.to}: ${fmtRate(e.rate)}`}</title>
            </path>
          );
        })}
        {graph.nodes.map((node) => {
          const p = at.get(node.id)!;
          const stripW = 56;
          const cells = node.strip ?? [];
          // Label and strip outside the circle: out along the node's direction.
          const lx = p.x + p.ox * 50;
          const ly = p.y + p.oy * 26 + 4;
          return (
            <g key={node.id} data-testid="graph-node" data-address={node.id} data-known={String(node.known)}>
              <circle
                cx={p.x}
                cy={p.y}
                r={NODE_R}
                fill={node.seeder ? '#3c9a5f' : node.known ? '#4a78c0' : '#b8bec7'}
                stroke="#fff"
                stroke-width="2"
              >
                <title>
                  {`${node.id}${node.seeder ? ' (seeder)' : ''}${node.known ? '' : ' (not in this swarm’s peer set)'}${node.reports ? '' : ' — sends no rates'}`}
                </title>
              </circle>
              <text x={lx} y={ly} text-anchor="middle" class="graph-label">
                {node.id}
              </text>
              {cells.length > 0 && (
                <g data-testid="graph-strip">
                  <rect x={lx - stripW / 2} y={ly + 4} width={stripW} height={5} fill="#e8ecf1" />
                  {cells.map((f, i) =>
                    f > 0 ? (
                      <rect
                        key={i}
                        x={lx - stripW / 2 + (i * stripW) / cells.length}
                        y={ly + 4}
                        width={stripW / cells.length}
                        height={5}
                        fill="#4a78c0"
                        fill-opacity={f.toFixed(2)}
                      />
                    ) : null,
                  )}
                </g>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}

/** The counts the legend shows: every one up to 6, else a few steps. */
function legendSteps(max: number): number[] {
  if (max <= 6) return Array.from({ length: max + 1 }, (_, i) => i);
  return [0, 1, Math.round(max / 3), Math.round((2 * max) / 3), max];
}

function chunkRange(cell: number, per: number, pieces: number): string {
  if (per === 1) return `chunk ${cell}`;
  return `chunks ${cell * per}–${Math.min(pieces, (cell + 1) * per) - 1}`;
}

/** Red for a chunk nobody holds, orange for one holder, then deeper blue as copies grow. */
function heat(n: number, max: number): string {
  if (n <= 0) return '#d64545';
  if (n === 1) return '#f0a030';
  const t = Math.min(1, (n - 1) / Math.max(1, max - 1));
  const light = 72 - t * 37;
  return `hsl(210 70% ${light}%)`;
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
