import { render } from 'preact';
import { useState } from 'preact/hooks';
import type { SwarmView, TrackerState, TrackerStatsView } from '../src/web/types.js';
import {
  ChunkGrid,
  errorText,
  fmtAgo,
  fmtBytes,
  fmtPercent,
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
              {a.peersUnknown > 0 ? `; ${a.peersUnknown} peer(s) did not say which chunks they hold` : ''})
            </span>
          </h3>
          <ChunkGrid
            count={a.cells.length}
            version={a.cells.join(',')}
            color={(i) => heat(a.cells[i]!, max)}
            describe={(i) =>
              `${chunkRange(i, a.chunksPerCell, s.pieces ?? 0)}: held by ${a.cells[i]} peer(s)`
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
