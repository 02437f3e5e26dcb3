import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { magnetUri, parseMetainfo } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { clientFromPeerId } from '../peer/connection.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { formatAddress } from '../shared/types.js';
import { isSeeder } from '../tracker/protocol/announce-response.js';
import {
  type AnySwarmStore,
  isAsyncStore,
  type MetricsSnapshot,
  type PeerRecord,
  type SwarmStats,
  storeKind,
  type TrackerEvent,
  type TrackerHandle,
} from '../tracker/server/index.js';
import { WebApp } from './app.js';
import type { StaticAssets } from './assets.js';
import { WebGuard } from './guard.js';
import { contentDisposition, readBody, send, sendError, sendJson } from './http.js';
import { coalesce, SseHub } from './sse.js';
import { swarmGraph } from './swarm-graph.js';
import type { AvailabilityMap, SwarmPeerView, SwarmView, TrackerState, TrackerStatsView } from './types.js';

/** Swarms listed on the page, peers per swarm in its table, and cells in an availability map. */
export const MAX_SWARMS = 200;
export const MAX_PEER_ROWS = 200;
export const MAX_CELLS = 2048;
/** .torrent files the page keeps (uploads and --torrents together). */
export const MAX_REGISTERED = 10_000;
/** Bits counted for one availability map at most (peers × chunks), so a huge swarm cannot stall announces. */
const COUNT_BUDGET = 16_000_000;
const PUSH_MS = 250;
const RESCAN_MS = 10_000;
/**
 * With a shared store (Redis) other trackers' announces change the swarms too and this process
 * hears of none of them: open pages are refreshed this often instead.
 */
const SHARED_REFRESH_MS = 2000;

export interface TrackerWebOptions {
  /** Folder of .torrent files that name swarms and are offered for download (`--torrents DIR`). */
  readonly torrentsDir?: string;
  /** Required of every page request when set (see WebGuard); the CLI sets it for a non-loopback bind. */
  readonly accessToken?: string;
  readonly allowedHosts?: readonly string[];
  readonly assets?: StaticAssets;
  readonly clock?: Clock;
  /** A .torrent in the folder that cannot be read, once per file. */
  readonly onWarning?: (message: string) => void;
}

interface Registered {
  readonly meta: Metainfo;
  readonly bytes: Buffer;
}

/**
 * The tracker's page: every swarm with its counts, peer set and chunk availability, live over
 * server-sent events, and the .torrent files it knows. It reads the store and is told of every
 * announce through `onTrackerEvent`; it never changes a swarm.
 */
export class TrackerWeb {
  readonly app: WebApp;
  readonly hub = new SseHub();
  readonly #tracker: TrackerHandle<AnySwarmStore>;
  readonly #store: AnySwarmStore;
  /** For an async store: the state last read from it (state() must answer at once). */
  #cached: TrackerState | undefined;
  #refreshing: Promise<TrackerState> | undefined;
  #sharedTimer: NodeJS.Timeout | undefined;
  readonly #clock: Clock;
  readonly #registered = new Map<string, Registered>();
  readonly #dir: string | undefined;
  /** Files of the folder already looked at, by name, with the mtime seen: each is read once per change. */
  readonly #seen = new Map<string, number>();
  readonly #warn: (message: string) => void;
  /** Builds the state only when a page is open to receive it. */
  readonly #push = coalesce(() => {
    if (this.hub.size === 0) return;
    if (isAsyncStore(this.#store)) {
      this.refresh().then(
        (st) => this.hub.broadcast('state', st),
        () => {},
      );
    } else this.hub.broadcast('state', this.state());
  }, PUSH_MS);
  #rescan: NodeJS.Timeout | undefined;

  constructor(tracker: TrackerHandle<AnySwarmStore>, opts: TrackerWebOptions = {}) {
    this.#tracker = tracker;
    this.#store = tracker.store;
    this.#clock = opts.clock ?? systemClock;
    this.#dir = opts.torrentsDir;
    this.#warn = opts.onWarning ?? (() => {});
    const guard = new WebGuard(
      { accessToken: opts.accessToken, allowedHosts: opts.allowedHosts },
      String(tracker.port),
    );
    this.app = new WebApp({
      kind: 'tracker',
      guard,
      assets: opts.assets,
      hub: this.hub,
      title: () => `chunkswarm tracker on ${formatAddress(tracker.host, tracker.port)}`,
      state: () => this.state(),
      routes: [
        {
          method: 'GET',
          path: '/api/state',
          handle: async (_q, res) => {
            const st = isAsyncStore(this.#store)
              ? await this.refresh().catch(() => this.state())
              : this.state();
            sendJson(res, 200, st);
          },
        },
        {
          method: 'GET',
          path: /^\/torrents\/([0-9a-f]{40})\.torrent$/,
          handle: (_q, res, [h]) => this.#serveTorrent(res, h!),
        },
        { method: 'POST', path: '/api/torrents', handle: (req, res) => this.#upload(req, res) },
        {
          // The page's Stats section alone, for scripts (the same counters as /metrics, as JSON).
          method: 'GET',
          path: '/stats',
          handle: (_q, res) =>
            sendJson(res, 200, statsView(this.#tracker.metrics.snapshot(), storeKind(this.#store))),
        },
      ],
    });
  }

  get guard(): WebGuard {
    return this.app.guard;
  }

  /** Reads the --torrents folder, hooks the page into the tracker and keeps looking for new files. */
  async start(): Promise<void> {
    if (this.#dir !== undefined) {
      await this.scanFolder();
      this.#rescan = setInterval(() => {
        this.scanFolder().catch((err) => this.#warn(`--torrents: ${describeError(err)}`));
      }, RESCAN_MS);
      this.#rescan.unref();
    }
    this.#tracker.setExtraHandler(this.app.handle);
    if (isAsyncStore(this.#store)) {
      this.#sharedTimer = setInterval(() => this.#push(), SHARED_REFRESH_MS);
      this.#sharedTimer.unref();
    }
  }

  /** Pass every tracker event here (TrackerOptions.onEvent): pages are updated soon after. */
  onTrackerEvent = (e: TrackerEvent): void => {
    if (e.type === 'announce' || e.type === 'expire') this.#push();
  };

  close(): void {
    clearInterval(this.#rescan);
    clearInterval(this.#sharedTimer);
    this.#push.cancel();
    this.hub.close();
    this.#tracker.setExtraHandler(undefined);
  }

  /** Adds a .torrent (upload or folder); parsed with the CLI's limits. Returns its metainfo. */
  register(bytes: Buffer): Metainfo {
    const meta = parseMetainfo(bytes);
    if (!this.#registered.has(meta.infoHashHex) && this.#registered.size >= MAX_REGISTERED) {
      throw new ChunkswarmError('EUSAGE', `the tracker already keeps ${MAX_REGISTERED} .torrent files`);
    }
    this.#registered.set(meta.infoHashHex, { meta, bytes });
    this.#push();
    return meta;
  }

  /** Reads new or changed `*.torrent` files of the folder. */
  async scanFolder(): Promise<void> {
    const dir = this.#dir;
    if (dir === undefined) return;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.torrent')).sort();
    } catch (err) {
      throw new ChunkswarmError('EUSAGE', `cannot read --torrents folder ${dir}: ${describeError(err)}`);
    }
    for (const name of names.slice(0, MAX_REGISTERED)) {
      const path = join(dir, name);
      try {
        const st = await stat(path);
        if (!st.isFile() || this.#seen.get(name) === st.mtimeMs) continue;
        this.#seen.set(name, st.mtimeMs);
        if (st.size > LIMITS.metainfoBytes) {
          throw new ChunkswarmError(
            'EMETAINFO_SIZE',
            `${st.size} bytes is over the ${LIMITS.metainfoBytes}-byte limit`,
          );
        }
        this.register(await readFile(path));
      } catch (err) {
        this.#warn(`--torrents: skipping ${path}: ${describeError(err)}`);
      }
    }
  }

  /**
   * What the page shows. With an async store (Redis) this is the state last read (see refresh),
   * or an empty one before the first read.
   */
  state(): TrackerState {
    const store = this.#store;
    const now = this.#clock.now();
    if (isAsyncStore(store)) return this.#cached ?? this.#compose(now, [], 0);
    const hashes = [...new Set([...store.swarms(), ...this.#registered.keys()])];
    const top = busiestFirst(hashes.map((h) => this.#swarm(h, store.stats(h), undefined)));
    const shown = top
      .slice(0, MAX_SWARMS)
      .map((s) =>
        this.#swarm(
          s.infoHash,
          store.stats(s.infoHash),
          store.peers(s.infoHash, Number.MAX_SAFE_INTEGER, undefined, now),
        ),
      );
    return this.#compose(now, shown, top.length - shown.length);
  }

  /** Reads the state from an async store (one read at a time) and keeps it for state(). */
  refresh(): Promise<TrackerState> {
    const store = this.#store;
    if (!isAsyncStore(store)) return Promise.resolve(this.state());
    this.#refreshing ??= (async () => {
      const now = this.#clock.now();
      const hashes = [...new Set([...(await store.swarms(MAX_REGISTERED)), ...this.#registered.keys()])];
      const stats = await store.statsMany(hashes);
      const top = busiestFirst(hashes.map((h, i) => this.#swarm(h, stats[i]!, undefined))).slice(
        0,
        MAX_SWARMS,
      );
      const peers = await Promise.all(
        top.map((s) => store.peers(s.infoHash, MAX_PEER_ROWS * 4, undefined, now)),
      );
      const byHash = new Map(hashes.map((h, i) => [h, stats[i]!]));
      const shown = top.map((s, i) => this.#swarm(s.infoHash, byHash.get(s.infoHash)!, peers[i]!));
      this.#cached = this.#compose(now, shown, hashes.length - shown.length);
      return this.#cached;
    })().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  #compose(now: number, shown: SwarmView[], omitted: number): TrackerState {
    return {
      announceUrl: this.#tracker.announceUrl,
      now,
      swarms: shown,
      swarmsOmitted: omitted,
      registered: this.#registered.size,
      stats: statsView(this.#tracker.metrics.snapshot(), storeKind(this.#store)),
    };
  }

  /** A swarm as the page shows it; `records` (its peers) only for the swarms shown in detail. */
  #swarm(infoHash: string, stats: SwarmStats, records: PeerRecord[] | undefined): SwarmView {
    const reg = this.#registered.get(infoHash)?.meta;
    const name = reg?.name ?? stats.name ?? null;
    const pieces = reg?.pieceCount ?? stats.pieces ?? null;
    const base = {
      infoHash,
      name,
      nameFrom: reg ? ('torrent' as const) : stats.name !== undefined ? ('announce' as const) : null,
      seeders: stats.complete,
      leechers: stats.incomplete,
      completed: stats.downloaded,
      pieces,
      size: reg?.totalLength ?? null,
      hasTorrent: reg !== undefined,
      magnet: reg ? magnetUri(reg) : this.#magnet(infoHash, name),
    };
    if (records === undefined)
      return { ...base, peers: [], peersOmitted: 0, availability: null, graph: null };
    records.sort(
      (a, b) => Number(isSeeder(b)) - Number(isSeeder(a)) || a.ip.localeCompare(b.ip) || a.port - b.port,
    );
    const peers = records.slice(0, MAX_PEER_ROWS).map((r) => peerView(r, pieces, reg?.totalLength));
    return {
      ...base,
      peers,
      peersOmitted: records.length - peers.length,
      availability: pieces === null ? null : availability(records, pieces),
      graph: swarmGraph(records, pieces),
    };
  }

  /** A magnet for a swarm known only from announces: its infohash, name and this tracker. */
  #magnet(infoHash: string, name: string | null): string {
    const dn = name === null ? '' : `&dn=${encodeURIComponent(name)}`;
    return `magnet:?xt=urn:btih:${infoHash}${dn}&tr=${encodeURIComponent(this.#tracker.announceUrl)}`;
  }

  #serveTorrent(res: import('node:http').ServerResponse, infoHash: string): void {
    const reg = this.#registered.get(infoHash);
    if (!reg) {
      sendJson(res, 404, { error: 'this tracker has no .torrent file for that swarm' });
      return;
    }
    send(res, 200, 'application/x-bittorrent', reg.bytes, {
      'Content-Disposition': contentDisposition(`${reg.meta.name}.torrent`),
    });
  }

  async #upload(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ): Promise<void> {
    try {
      const bytes = await readBody(req, LIMITS.webUploadBytes);
      const meta = this.register(bytes);
      sendJson(res, 200, { infoHash: meta.infoHashHex, name: meta.name });
    } catch (err) {
      sendError(res, err, { Connection: 'close' });
    }
  }
}

/** The page's summary of the /metrics counters. */
export function statsView(m: MetricsSnapshot, store: string): TrackerStatsView {
  let failed = 0;
  let scrapes = 0;
  for (const t of ['http', 'udp'] as const) {
    for (const [o, n] of Object.entries(m.announces[t])) if (o !== 'ok') failed += n;
    for (const [o, n] of Object.entries(m.scrapes[t])) {
      scrapes += n;
      if (o !== 'ok') failed += n;
    }
  }
  const sum = (r: Readonly<Record<string, number>>) => Object.values(r).reduce((a, b) => a + b, 0);
  return {
    announcesHttp: sum(m.announces.http),
    announcesUdp: sum(m.announces.udp),
    scrapes,
    failed,
    storeErrors: m.storeErrors,
    meanAnnounceMs: m.latency.count === 0 ? null : (m.latency.sum / m.latency.count) * 1000,
    store,
  };
}

/** Busy swarms first, then by name: a page with many idle registered torrents still shows the live ones. */
function busiestFirst(all: SwarmView[]): SwarmView[] {
  return all.sort(
    (a, b) =>
      b.seeders + b.leechers - (a.seeders + a.leechers) ||
      (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') ||
      a.infoHash.localeCompare(b.infoHash),
  );
}

function peerView(r: PeerRecord, pieces: number | null, size: number | undefined): SwarmPeerView {
  const seeder = isSeeder(r);
  const have = r.have ?? (seeder && pieces !== null ? pieces : null);
  let progress: number | null = null;
  if (seeder) progress = 1;
  else if (have !== null && (r.pieces ?? pieces)) progress = have / (r.pieces ?? pieces)!;
  else if (size !== undefined && r.left !== undefined && size > 0)
    progress = Math.max(0, Math.min(1, 1 - r.left / size));
  return {
    address: formatAddress(r.ip, r.port),
    client: clientFromPeerId(r.peerId),
    progress,
    have,
    seeder,
    uploaded: r.uploaded,
    downloaded: r.downloaded,
    lastSeen: r.lastSeen,
  };
}

/**
 * How many peers hold each chunk. Peers that sent a bitfield count chunk by chunk; seeders count for
 * every chunk; others (standard clients, or a chunkswarm peer that sent only a count) are unknown.
 * Past MAX_CELLS chunks a cell shows the rarest chunk of its run, so rare chunks still stand out.
 */
export function availability(
  peers: readonly Pick<PeerRecord, 'bitfield' | 'left' | 'have' | 'pieces'>[],
  pieces: number,
): AvailabilityMap {
  const counts = new Uint32Array(pieces);
  let everything = 0;
  let counted = 0;
  let unknown = 0;
  let budget = COUNT_BUDGET;
  for (const p of peers) {
    if (isSeeder(p)) {
      everything++;
      counted++;
    } else if (p.bitfield && p.pieces === pieces && budget >= pieces) {
      budget -= pieces;
      counted++;
      const bf = p.bitfield;
      for (let byte = 0; byte < bf.length; byte++) {
        const v = bf[byte]!;
        if (v === 0) continue;
        for (let bit = 0; bit < 8; bit++) {
          const i = byte * 8 + bit;
          if (i < pieces && (v & (0x80 >> bit)) !== 0) counts[i]!++;
        }
      }
    } else unknown++;
  }
  const perCell = Math.max(1, Math.ceil(pieces / MAX_CELLS));
  const cells: number[] = [];
  for (let start = 0; start < pieces; start += perCell) {
    let min = Number.POSITIVE_INFINITY;
    for (let i = start; i < Math.min(pieces, start + perCell); i++) min = Math.min(min, counts[i]!);
    cells.push(min + everything);
  }
  return { cells, chunksPerCell: perCell, peersCounted: counted, peersUnknown: unknown };
}
