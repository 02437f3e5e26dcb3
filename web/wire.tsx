import { useEffect, useRef, useState } from 'preact/hooks';
import { countOf } from '../src/shared/plural.js';
import type {
  TorrentView,
  WireBacklog,
  WireConnectionView,
  WireEntryView,
  WirePush,
} from '../src/web/types.js';
import { errorText } from './common.js';

/**
 * The Wire panel (`--trace`): one connection's messages as a sequence diagram, us on the left and the peer
 * on the right, newest at the bottom. Messages keep arriving while paused; the diagram just holds still.
 * Every string here (client names, fields) came from the network and is rendered as text by Preact.
 */

/** Messages kept per connection on the page, as on the server. */
const KEEP = 500;

/** The kinds, grouped as the checkboxes show them. */
const KIND_GROUPS: readonly (readonly string[])[] = [
  ['handshake', 'extended-handshake'],
  ['bitfield', 'have-all', 'have-none', 'have'],
  ['interested', 'not-interested', 'choke', 'unchoke'],
  ['request', 'piece', 'cancel', 'reject'],
  ['suggest', 'allowed-fast'],
  ['ut_metadata', 'ut_pex', 'extended'],
  ['keep-alive', 'port'],
];
const ALL_KINDS = KIND_GROUPS.flat();

/** Adds `fresh` to what is kept of a connection: in seq order, no repeats, the last KEEP. */
function merge(kept: readonly WireEntryView[], fresh: readonly WireEntryView[]): WireEntryView[] {
  const last = kept.length > 0 ? kept[kept.length - 1]!.seq : -1;
  let out: WireEntryView[];
  if (fresh.every((e) => e.seq > last)) out = [...kept, ...fresh];
  else {
    const bySeq = new Map<number, WireEntryView>();
    for (const e of kept) bySeq.set(e.seq, e);
    for (const e of fresh) bySeq.set(e.seq, e);
    out = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
  return out.length > KEEP ? out.slice(-KEEP) : out;
}

function label(c: WireConnectionView, torrents: readonly TorrentView[]): string {
  const t = torrents.find((x) => x.infoHash === c.infoHash);
  return `${c.address} — ${c.client}${t ? ` — ${t.name}` : ''}${c.closed ? ' (closed)' : ''}`;
}

export function WirePanel({ torrents }: { torrents: readonly TorrentView[] }) {
  const [connections, setConnections] = useState<readonly WireConnectionView[]>([]);
  const store = useRef(new Map<number, WireEntryView[]>());
  const [version, setVersion] = useState(0);
  const [chosen, setChosen] = useState<number | undefined>(undefined);
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  const [frozen, setFrozen] = useState<readonly WireEntryView[]>([]);
  const [kinds, setKinds] = useState<ReadonlySet<string>>(() => new Set(ALL_KINDS));
  const [selected, setSelected] = useState<WireEntryView | undefined>(undefined);
  const [skipped, setSkipped] = useState(0);
  const [error, setError] = useState('');
  const list = useRef<HTMLOListElement>(null);

  useEffect(() => {
    const es = new EventSource('/api/wire/events');
    es.addEventListener('wire', (e) => {
      const push = JSON.parse((e as MessageEvent<string>).data) as WirePush;
      setConnections(push.connections);
      const byConn = new Map<number, WireEntryView[]>();
      for (const { conn, ...entry } of push.entries) {
        const l = byConn.get(conn) ?? [];
        l.push(entry);
        byConn.set(conn, l);
      }
      for (const [conn, fresh] of byConn) store.current.set(conn, merge(store.current.get(conn) ?? [], fresh));
      for (const id of store.current.keys())
        if (!push.connections.some((c) => c.id === id)) store.current.delete(id);
      if (push.skipped > 0) setSkipped((s) => s + push.skipped);
      setVersion((v) => v + 1);
    });
    return () => es.close();
  }, []);

  // The first connection until the user picks one; another when the chosen one is forgotten.
  const current = connections.find((c) => c.id === chosen) ?? connections[0];
  const currentId = current?.id;

  // What the server still holds of the connection shown: the messages before the page was looking.
  useEffect(() => {
    if (currentId === undefined) return;
    let gone = false;
    fetch(`/api/wire/${currentId}`, { credentials: 'same-origin' })
      .then(async (res) => {
        if (!res.ok) throw new Error(((await res.json()) as { error?: string }).error ?? res.statusText);
        return (await res.json()) as WireBacklog;
      })
      .then((b) => {
        if (gone) return;
        store.current.set(currentId, merge(b.entries, store.current.get(currentId) ?? []));
        setVersion((v) => v + 1);
      })
      .catch((err) => setError(errorText(err)));
    return () => {
      gone = true;
    };
  }, [currentId]);

  const live = currentId === undefined ? [] : (store.current.get(currentId) ?? []);
  const shown = (paused ? frozen : live).filter((e) => kinds.has(e.kind));
  const newWhilePaused = paused ? live.filter((e) => e.seq > (frozen[frozen.length - 1]?.seq ?? -1)).length : 0;

  useEffect(() => {
    if (!pausedRef.current) list.current?.scrollTo(0, list.current.scrollHeight);
  }, [version, currentId, kinds]);

  const togglePause = () => {
    pausedRef.current = !paused;
    if (!paused) setFrozen(live);
    setPaused(!paused);
  };
  const toggleKind = (k: string) => {
    const next = new Set(kinds);
    if (next.has(k)) next.delete(k);
    else next.add(k);
    setKinds(next);
  };
  const t0 = live[0]?.at ?? 0;

  return (
    <section class="card wire" data-testid="wire">
      <h2>Wire</h2>
      <p class="dim">
        Every message of a connection, both ways (started with <code>--trace</code>). Click one to see its
        fields and bytes.
      </p>
      <div class="wire-controls">
        <label>
          peer{' '}
          <select
            data-testid="wire-peer"
            value={currentId === undefined ? '' : String(currentId)}
            onChange={(e) => {
              setChosen(Number((e.currentTarget as HTMLSelectElement).value));
              setSelected(undefined);
              if (paused) togglePause();
            }}
          >
            {connections.length === 0 && <option value="">no connections yet</option>}
            {connections.map((c) => (
              <option key={c.id} value={String(c.id)}>
                {label(c, torrents)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={togglePause} data-testid="wire-pause">
          {paused ? 'Resume' : 'Pause'}
        </button>
        {paused && (
          <span class="dim" data-testid="wire-paused">
            paused; {newWhilePaused} new message(s) since
          </span>
        )}
        {current && current.dropped > 0 && (
          <span class="dim">{current.dropped} older message(s) no longer kept</span>
        )}
        {skipped > 0 && <span class="dim">{skipped} message(s) not sent to the page (too fast)</span>}
      </div>
      <div class="wire-kinds">
        {KIND_GROUPS.map((group) => (
          <span class="wire-group" key={group[0]}>
            {group.map((k) => (
              <label key={k}>
                <input
                  type="checkbox"
                  checked={kinds.has(k)}
                  onChange={() => toggleKind(k)}
                  data-testid={`wire-kind-${k}`}
                />
                {k}
              </label>
            ))}
          </span>
        ))}
      </div>
      {error && <p class="note error">{error}</p>}
      <div class="wire-body">
        <div>
          <div class="wire-head">
            <span />
            <span>us</span>
            <span />
            <span>{current ? current.address : 'peer'}</span>
          </div>
          <ol class="wire-list" ref={list} data-testid="wire-list">
            {shown.map((e) => (
              <li
                key={e.seq}
                class={`wire-row ${e.dir}${selected?.seq === e.seq ? ' selected' : ''}`}
                data-testid="wire-msg"
                data-kind={e.kind}
                data-dir={e.dir}
                data-seq={e.seq}
                onClick={() => setSelected(e)}
              >
                <span class="wire-time">+{((e.at - t0) / 1000).toFixed(3)}</span>
                <span class="wire-lane" />
                <span class="wire-arrow">
                  <span class="wire-label">{e.summary}</span>
                </span>
                <span class="wire-lane" />
              </li>
            ))}
          </ol>
        </div>
        <WireDetail entry={selected} />
      </div>
    </section>
  );
}

/** Sixteen bytes a line, with the offset in front. */
function hexLines(hex: string): string {
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += 32) {
    const bytes = hex.slice(i, i + 32).match(/../g) ?? [];
    lines.push(`${(i / 2).toString(16).padStart(4, '0')}  ${bytes.join(' ')}`);
  }
  return lines.join('\n');
}

function WireDetail({ entry }: { entry: WireEntryView | undefined }) {
  if (!entry)
    return (
      <div class="wire-detail dim" data-testid="wire-detail">
        Click a message.
      </div>
    );
  const shown = entry.bytes.hex.length / 2;
  return (
    <div class="wire-detail" data-testid="wire-detail">
      <h4>
        {entry.dir === 'out' ? 'sent' : 'received'}: {entry.summary}
      </h4>
      <pre data-testid="wire-fields">{JSON.stringify({ kind: entry.kind, ...entry.fields }, null, 2)}</pre>
      <p class="dim">
        {countOf(entry.bytes.length, 'byte')} on the wire
        {shown < entry.bytes.length ? `, the first ${shown} shown` : ''}
      </p>
      <pre data-testid="wire-bytes">{hexLines(entry.bytes.hex)}</pre>
    </div>
  );
}
