import { PEER_FLAG_LEGEND } from '../src/peer/flags.js';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type {
  ConsoleLine,
  ConsoleReply,
  MagnetFetchView,
  PeerPageState,
  TorrentView,
} from '../src/web/types.js';
import {
  ChunkGrid,
  errorText,
  fmtBytes,
  fmtPercent,
  fmtRate,
  LiveBadge,
  Note,
  post,
  postJson,
  Stat,
  useLiveState,
  useNote,
} from './common.js';
import './style.css';
import { WirePanel } from './wire.js';

function App() {
  const { state, live } = useLiveState<PeerPageState>();
  if (!state) return <p class="loading">connecting…</p>;
  return (
    <>
      <header>
        <h1>
          chunkswarm <span class="dim">{state.command}</span>
        </h1>
        <div class="header-info">
          <span>
            listening on <code>{state.listen}</code>
          </span>
          {state.dht && (
            <span data-testid="dht-nodes">
              DHT: {state.dht.nodes} node(s), {state.dht.goodNodes} good
            </span>
          )}
          <LiveBadge live={live} />
        </div>
      </header>
      <main>
        <div class="controls">
          <Limits limits={state.limits} />
          <AddTorrent disabled={state.addDisabled} />
        </div>
        {state.torrents.map((t) => (
          <Torrent key={t.infoHash} t={t} />
        ))}
        {state.fetching.map((f) => (
          <Fetching key={f.infoHash} f={f} />
        ))}
        {state.wire && <WirePanel torrents={state.torrents} />}
        <Console torrents={state.torrents} />
      </main>
    </>
  );
}

function Torrent({ t }: { t: TorrentView }) {
  const [note, say] = useNote();
  const progress = t.size > 0 ? t.done / t.size : 1;
  const status = t.paused
    ? 'paused'
    : t.complete
      ? 'seeding'
      : t.mode === 'manual'
        ? 'manual (shell)'
        : 'downloading';
  const toggle = async () => {
    try {
      await post(`/api/torrents/${t.infoHash}/${t.paused ? 'resume' : 'pause'}`, '', 'text/plain');
    } catch (err) {
      say(errorText(err), true);
    }
  };
  const map = t.map;
  return (
    <section class="card torrent" data-testid={`torrent-${t.infoHash}`} data-name={t.name}>
      <div class="swarm-head">
        <h2 data-testid="torrent-name">{t.name}</h2>
        <span class={`badge ${status.split(' ')[0]}`} data-testid="status">
          {status}
        </span>
        <code class="hash">{t.infoHash}</code>
        <button type="button" onClick={toggle} data-testid="pause-button" class="right">
          {t.paused ? 'Resume' : 'Pause'}
        </button>
      </div>
      <div
        class="bar"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.floor(progress * 100)}
      >
        <span style={{ width: `${progress * 100}%` }} class={t.complete ? 'done' : ''} />
        <em data-testid="progress" data-done={t.done} data-have={t.have}>
          {fmtPercent(progress)} — {t.have}/{t.pieceCount} chunks, {fmtBytes(t.done)} of {fmtBytes(t.size)}
        </em>
      </div>
      <Note note={note} />
      <div class="stats">
        <Stat label="down" value={fmtRate(t.downRate)} testid="down-rate" />
        <Stat label="up" value={fmtRate(t.upRate)} testid="up-rate" />
        <Stat label="downloaded" value={fmtBytes(t.downloaded)} />
        <Stat label="uploaded" value={fmtBytes(t.uploaded)} />
        <Stat label="peers" value={t.peers.length} testid="peer-count" />
        <Stat label="tracker" value={t.tracker} />
      </div>
      {t.waitingFor && (
        <p class="waiting" data-testid="waiting-for">
          waiting: {t.waitingFor}
        </p>
      )}
      {t.seeding && (
        <p class="seeding" data-testid="seeding">
          seeding: {t.seeding}
        </p>
      )}
      <div class="two">
        <div>
          <h3>
            Chunks{' '}
            <span class="dim">
              <span class="swatch held" /> held <span class="swatch flight" /> in flight{' '}
              <span class="swatch missing" /> missing
              {map.chunksPerCell > 1 ? ` (a cell is ${map.chunksPerCell} chunks)` : ''}
            </span>
          </h3>
          <ChunkGrid
            count={map.cells.length}
            version={map.cells}
            color={(i) => CELL_COLOURS[map.cells[i] ?? 'm'] ?? '#ccc'}
            describe={(i) => describeCell(map.cells[i] ?? 'm', i, map.chunksPerCell, t.pieceCount)}
            label={`${t.have} of ${t.pieceCount} chunks held`}
            testid="chunk-map"
          />
        </div>
        <div>
          <h3>Rate</h3>
          <RateChart t={t} />
        </div>
      </div>
      {t.files.length > 0 && <Files t={t} say={say} />}
      <h3>Peers</h3>
      {t.peers.length === 0 ? (
        <p class="dim">No peers connected.</p>
      ) : (
        <table class="peers">
          <thead>
            <tr>
              <th>address</th>
              <th>client</th>
              <th>flags</th>
              <th>down</th>
              <th>up</th>
              <th>chunks held</th>
            </tr>
          </thead>
          <tbody>
            {t.peers.map((p) => (
              <tr key={p.address} data-testid="peer-row">
                <td>
                  <code>{p.address}</code> <span class="dim">{p.source}</span>
                </td>
                <td>{p.client}</td>
                <td class="flags">
                  {flag(!p.amChoking, 'unchoked by us', 'choked by us', 'we serve it')}
                  {flag(p.peerInterested, 'interested in us', 'not interested in us', 'it wants ours')}
                  {flag(!p.peerChoking, 'unchokes us', 'chokes us', 'it serves us')}
                  {flag(p.amInterested, 'we are interested', 'we are not interested', 'we want its')}{' '}
                  <code
                    data-testid="peer-flags"
                    title={PEER_FLAG_LEGEND.map(([f, what]) => `${f} ${what}`).join('\n')}
                  >
                    {p.flags}
                  </code>
                </td>
                <td>{fmtRate(p.downRate)}</td>
                <td>{fmtRate(p.upRate)}</td>
                <td>
                  {p.have}/{t.pieceCount}
                  {p.seeder && <span class="badge seed">seeder</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {t.webSeeds.length > 0 && (
        <ul data-testid="web-seeds">
          {t.webSeeds.map((w) => (
            <li key={w.url}>
              web seed <code>{w.url}</code>: {w.state}, {fmtBytes(w.downloaded)}
              {w.state === 'retrying' && w.lastError ? ` (${w.lastError})` : ''}
            </li>
          ))}
        </ul>
      )}
      {t.notConnected.length > 0 && (
        <details>
          <summary>{t.notConnected.length} known peer(s) not connected</summary>
          <ul>
            {t.notConnected.map((n) => (
              <li key={n.address}>
                <code>{n.address}</code> — {n.why}
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}

/**
 * The torrent's files: a checkbox each changes the selection at once (files left out are not created,
 * their pieces not fetched), and a link to each file the page can stream.
 */
function Files({ t, say }: { t: TorrentView; say: (text: string, error?: boolean) => void }) {
  const chosen = t.files.filter((f) => f.selected).length;
  const change = async (body: unknown) => {
    try {
      await postJson(`/api/torrents/${t.infoHash}/files`, body);
    } catch (err) {
      say(errorText(err), true);
    }
  };
  return (
    <details class="files" open={t.files.length <= 20} data-testid="files">
      <summary>
        Files <span class="dim">({chosen} of {t.fileCount} selected)</span>
        {t.selectable && chosen < t.fileCount && (
          <button type="button" class="small" onClick={() => change({ select: 'all' })} data-testid="select-all">
            select all
          </button>
        )}
      </summary>
      <table class="peers">
        <thead>
          <tr>
            <th>#</th>
            <th>download</th>
            <th>file</th>
            <th>size</th>
            <th>done</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {t.files.map((f) => (
            <tr key={f.index} data-testid="file-row" data-index={f.index}>
              <td>{f.index}</td>
              <td>
                <input
                  type="checkbox"
                  checked={f.selected}
                  disabled={!t.selectable}
                  aria-label={`download ${f.path}`}
                  data-testid="file-select"
                  onChange={(e) => change({ file: f.index, selected: e.currentTarget.checked })}
                />
              </td>
              <td>
                <code>{f.path}</code>
              </td>
              <td>{fmtBytes(f.size)}</td>
              <td data-testid="file-done">{fmtPercent(f.size > 0 ? f.done / f.size : 1)}</td>
              <td>
                {f.stream && (
                  <a href={f.stream} target="_blank" rel="noopener noreferrer" data-testid="file-stream">
                    stream
                  </a>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {t.fileCount > t.files.length && (
        <p class="dim">
          The first {t.files.length} of {t.fileCount} files are listed.
        </p>
      )}
    </details>
  );
}

/** A magnet link added here, until its metadata has come and it is a torrent like the others. */
function Fetching({ f }: { f: MagnetFetchView }) {
  const status = f.error === null ? 'fetching metadata' : 'failed';
  return (
    <section class="card torrent" data-testid={`torrent-${f.infoHash}`} data-name={f.name}>
      <div class="swarm-head">
        <h2 data-testid="torrent-name">{f.name}</h2>
        <span class={`badge ${status.split(' ')[0]}`} data-testid="status">
          {status}
        </span>
        <code class="hash">{f.infoHash}</code>
      </div>
      {f.error === null ? (
        <p class="dim" data-testid="fetch-peers">
          magnet link: asking peers for the torrent's metadata (BEP 9); {f.connected} connected,{' '}
          {f.offering} offer it
        </p>
      ) : (
        <Note note={{ text: f.error, error: true }} />
      )}
    </section>
  );
}

/** Axis labels: whole numbers, so they fit the axis. */
function shortRate(v: number): string {
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'];
  let x = v;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return `${Math.round(x)} ${units[u]}`;
}

const CELL_COLOURS: Record<string, string> = { h: '#2e9d5b', p: '#8fd0a6', f: '#f0a030', m: '#d9dde3' };

function describeCell(c: string, i: number, per: number, pieces: number): string {
  const what = c === 'h' ? 'held' : c === 'f' ? 'in flight' : c === 'p' ? 'partly held' : 'missing';
  if (per === 1) return `chunk ${i}: ${what}`;
  return `chunks ${i * per}–${Math.min(pieces, (i + 1) * per) - 1}: ${what}`;
}

function flag(on: boolean, yes: string, no: string, short: string) {
  return (
    <span class={`flag ${on ? 'on' : 'off'}`} title={on ? yes : no}>
      {on ? short : `not: ${short}`}
    </span>
  );
}

/** Down and up rate over the last minutes, drawn by uPlot; redrawn with each state. */
function RateChart({ t }: { t: TorrentView }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 180,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1024, max * 1.1)] } },
      axes: [{}, { size: 80, values: (_u, ticks) => ticks.map((v) => shortRate(v)) }],
      series: [
        {},
        { label: 'down', stroke: '#2e9d5b', fill: 'rgba(46,157,91,0.12)', width: 2, points: { show: false } },
        { label: 'up', stroke: '#3b6fd6', width: 2, points: { show: false } },
      ],
    };
    const u = new uPlot(opts, [[], [], []], el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = undefined;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData([[...t.rates.t], [...t.rates.down], [...t.rates.up]]);
  }, [t.rates]);
  return <div class="chart" ref={box} data-testid="rate-chart" />;
}

function Limits({ limits }: { limits: PeerPageState['limits'] }) {
  const [up, setUp] = useState('');
  const [down, setDown] = useState('');
  const [note, say] = useNote();
  const apply = async (e: Event) => {
    e.preventDefault();
    const kib = (s: string): number | undefined =>
      s.trim() === '' ? undefined : Math.round(Number(s) * 1024);
    const body = { upload: kib(up), download: kib(down) };
    if ([body.upload, body.download].some((v) => v !== undefined && (!Number.isFinite(v) || v < 0))) {
      return say('limits are KiB/s: a number, 0 for unlimited', true);
    }
    try {
      const r = await postJson<{ upload: number; download: number }>('/api/limits', body);
      say(
        `upload ${r.upload ? fmtRate(r.upload) : 'unlimited'}, download ${r.download ? fmtRate(r.download) : 'unlimited'}`,
      );
      setUp('');
      setDown('');
    } catch (err) {
      say(errorText(err), true);
    }
  };
  const show = (v: number) => (v > 0 ? fmtRate(v) : 'unlimited');
  return (
    <form class="card" onSubmit={apply}>
      <h3>Rate limits (whole process)</h3>
      <label>
        upload KiB/s{' '}
        <input
          type="number"
          min="0"
          step="any"
          placeholder={show(limits.upload)}
          value={up}
          onInput={(e) => setUp((e.currentTarget as HTMLInputElement).value)}
          data-testid="limit-up"
        />
      </label>
      <label>
        download KiB/s{' '}
        <input
          type="number"
          min="0"
          step="any"
          placeholder={show(limits.download)}
          value={down}
          onInput={(e) => setDown((e.currentTarget as HTMLInputElement).value)}
          data-testid="limit-down"
        />
      </label>
      <button type="submit" data-testid="limit-apply">
        Apply
      </button>
      <p class="dim" data-testid="limits">
        now: up {show(limits.upload)}, down {show(limits.download)}
      </p>
      <Note note={note} />
    </form>
  );
}

function AddTorrent({ disabled }: { disabled: string | null }) {
  const [file, setFile] = useState<File | undefined>(undefined);
  const [magnet, setMagnet] = useState('');
  const [note, say] = useNote();
  const addFile = async (e: Event) => {
    e.preventDefault();
    if (!file) return say('choose a .torrent file first', true);
    try {
      const r = await post<{ name: string }>('/api/torrents', file, 'application/x-bittorrent');
      say(`added ${r.name}`);
    } catch (err) {
      say(errorText(err), true);
    }
  };
  const addMagnet = async (e: Event) => {
    e.preventDefault();
    if (magnet.trim() === '') return say('paste a magnet link first', true);
    try {
      const r = await postJson<{ message: string }>('/api/magnet', { uri: magnet });
      say(r.message);
      setMagnet('');
    } catch (err) {
      say(errorText(err), true);
    }
  };
  if (disabled !== null) {
    return (
      <div class="card">
        <h3>Add a torrent</h3>
        <p class="dim">{disabled}</p>
      </div>
    );
  }
  return (
    <div class="card" data-testid="add-torrent">
      <h3>Add a torrent</h3>
      <form onSubmit={addFile}>
        <input
          type="file"
          accept=".torrent,application/x-bittorrent"
          data-testid="add-file"
          onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0])}
        />
        <button type="submit" data-testid="add-button">
          Add
        </button>
      </form>
      <form onSubmit={addMagnet}>
        <input
          type="text"
          placeholder="magnet:?xt=urn:btih:…"
          value={magnet}
          onInput={(e) => setMagnet((e.currentTarget as HTMLInputElement).value)}
          data-testid="magnet-input"
          class="wide"
        />
        <button type="submit" data-testid="magnet-button">
          Add magnet
        </button>
      </form>
      <Note note={note} />
    </div>
  );
}

interface Entry {
  readonly command: string;
  readonly lines: readonly ConsoleLine[];
}

function Console({ torrents }: { torrents: readonly TorrentView[] }) {
  const [target, setTarget] = useState<string>('');
  const [line, setLine] = useState('');
  const [log, setLog] = useState<readonly Entry[]>([]);
  const [busy, setBusy] = useState(false);
  const out = useRef<HTMLDivElement>(null);
  const chosen =
    torrents.find((t) => t.infoHash === target) ?? torrents.find((t) => t.console === 'full') ?? torrents[0];
  useEffect(() => {
    out.current?.scrollTo(0, out.current.scrollHeight);
  }, [log]);
  if (!chosen) return null;
  const run = async (e: Event) => {
    e.preventDefault();
    const command = line.trim();
    if (command === '' || busy) return;
    setBusy(true);
    setLine('');
    try {
      const r = await postJson<ConsoleReply>('/api/console', { infoHash: chosen.infoHash, line: command });
      setLog((l) => [...l.slice(-200), { command, lines: r.lines }]);
    } catch (err) {
      setLog((l) => [...l.slice(-200), { command, lines: [{ text: errorText(err), kind: 'error' }] }]);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card console">
      <h2>Console</h2>
      <p class="dim">
        {chosen.console === 'full'
          ? "The seed's slash commands, as in the terminal: type /help."
          : 'Read-only here: /help, /status, /see_peer_set, /see_current_chunks and the other commands that only look.'}
      </p>
      {torrents.length > 1 && (
        <select
          value={chosen.infoHash}
          onChange={(e) => setTarget((e.currentTarget as HTMLSelectElement).value)}
        >
          {torrents.map((t) => (
            <option key={t.infoHash} value={t.infoHash}>
              {t.name}
            </option>
          ))}
        </select>
      )}
      <div class="console-out" ref={out} data-testid="console-out">
        {log.map((entry, i) => (
          <div key={i}>
            <div class="cmd">&gt; {entry.command}</div>
            {entry.lines.map((l, j) => (
              <div key={j} class={`line ${l.kind ?? ''}`}>
                {l.text}
              </div>
            ))}
          </div>
        ))}
      </div>
      <form onSubmit={run} class="console-in">
        <input
          type="text"
          value={line}
          placeholder="/status"
          onInput={(e) => setLine((e.currentTarget as HTMLInputElement).value)}
          data-testid="console-input"
          spellcheck={false}
          autocomplete="off"
        />
        <button type="submit" disabled={busy} data-testid="console-run">
          {busy ? 'running…' : 'Run'}
        </button>
      </form>
    </section>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
