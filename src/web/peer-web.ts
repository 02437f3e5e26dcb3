import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { filePathInTorrent, parseMagnet, parseMetainfo, parseSelect } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { peerFlags } from '../peer/flags.js';
import type { TraceBook } from '../peer/trace.js';
import type { Client } from '../session/client.js';
import { checkMagnetSources, type MetadataFetch } from '../session/metadata-fetch.js';
import { FileSelection } from '../session/selection.js';
import type { TorrentSession } from '../session/session.js';
import { type PeerStatus, torrentStatus, trackerWords } from '../session/status.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { formatAddress } from '../shared/types.js';
import { WebApp } from './app.js';
import type { StaticAssets } from './assets.js';
import { type ConsoleRunner, MAX_CONSOLE_LINE, readOnlyConsole } from './console.js';
import { isLoopbackHost, newToken, WebGuard } from './guard.js';
import { readBody, readJson, sendError, sendJson } from './http.js';
import { coalesce, SseHub } from './sse.js';
import { streamHandler, torrentFileSource } from './stream.js';
import type {
  ChunkMapView,
  FileView,
  MagnetFetchView,
  PeerPageState,
  PeerView,
  TorrentView,
  WireBacklog,
  WirePush,
} from './types.js';

/** Cells in a chunk map; past this a cell stands for a run of chunks. */
export const MAX_MAP_CELLS = 4096;
/** Files listed per torrent on the page (a torrent of thousands of files shows the first ones). */
export const MAX_FILES_SHOWN = 1000;
/** Seconds of rate history a chart shows. */
export const RATE_HISTORY = 120;
/** Largest rate limit accepted, bytes/s (1 TiB/s: anything above is a typo). */
const MAX_RATE = 2 ** 40;
/** Magnet links fetching their metadata at once: each holds up to 30 connections. */
const MAX_FETCHES = 8;
/** Failed fetches kept on the page, most recent last. */
const MAX_FAILED = 5;
const PUSH_MS = 250;
const SAMPLE_MS = 1000;
/** The Wire panel's messages go out in batches: a fast transfer must not flood the page. */
const WIRE_PUSH_MS = 200;
/** Most messages in one push (about 2000 a second); past that the newest are sent and the rest counted. */
export const MAX_WIRE_PUSH = 400;

export interface PeerWebOptions {
  readonly client: Client;
  readonly command: 'download' | 'seed' | 'peer';
  /** Where to listen; default 127.0.0.1 and any free port. */
  readonly host?: string;
  readonly port?: number;
  /** Required of every request when set. A non-loopback bind without one gets a generated token. */
  readonly accessToken?: string;
  readonly allowedHosts?: readonly string[];
  /**
   * Opens a torrent added through the page; without it the page says adding is not offered. `peers` are
   * those a magnet's metadata came from (with its `x.pe` ones), which no tracker may name.
   */
  readonly addTorrent?: (meta: Metainfo) => Promise<TorrentSession>;
  /**
   * Called as a magnet's metadata fetch starts; what it returns is called once the fetch is over (torrent
   * added or fetch failed). `download` waits for these as for its other torrents.
   */
  readonly holdWhileFetching?: () => () => void;
  /** Where the command prints its lines: a magnet's fetch is told there too. */
  readonly log?: (line: string) => void;
  /** How long a magnet's metadata may take (default MetadataFetch's 60 s). */
  readonly metadataTimeoutMs?: number;
  /** Why adding is not offered (shown when `addTorrent` is absent). */
  readonly addDisabled?: string;
  /** The full shell of one session (`chunkswarm peer`); every other session gets a read-only console. */
  readonly shell?: { readonly session: TorrentSession; readonly run: ConsoleRunner };
  readonly assets?: StaticAssets;
  /** `--trace`: every connection's messages, for the page's Wire panel. */
  readonly trace?: TraceBook;
}

export interface PeerWebHandle {
  /** `http://HOST:PORT/` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The access token in force: given, generated for a non-loopback bind, or undefined on loopback. */
  readonly accessToken: string | undefined;
  /** Whether the token was generated here (the caller prints it once). */
  readonly generatedToken: boolean;
  readonly web: PeerWeb;
  close(): Promise<void>;
}

interface Tracked {
  readonly session: TorrentSession;
  readonly off: (() => void)[];
  readonly t: number[];
  readonly down: number[];
  readonly up: number[];
  console: ConsoleRunner | undefined;
}

interface Fetching {
  readonly fetch: MetadataFetch;
  error: string | null;
}

/**
 * The peer page: every torrent of the process with progress, chunk map, rate chart and peers, and
 * the controls (pause/resume, rate limits, add a torrent, console). It watches each session's events
 * and samples rates once a second for the chart.
 */
export class PeerWeb {
  readonly app: WebApp;
  readonly hub = new SseHub();
  readonly #o: PeerWebOptions;
  readonly #tracked = new Map<string, Tracked>();
  /** Magnet links added here, by infohash, until their session opens; failed ones stay to show why. */
  readonly #fetching = new Map<string, Fetching>();
  /** Builds the state only when a page is open to receive it. */
  readonly #push = coalesce(() => {
    if (this.hub.size > 0) this.hub.broadcast('state', this.state());
  }, PUSH_MS);
  #sampler: NodeJS.Timeout | undefined;
  #me = '';
  /** The Wire panel's stream (`--trace`), and what of each connection it has been sent. */
  readonly wireHub = new SseHub();
  readonly #wireSent = new Map<number, number>();
  #wireKey = '';
  #wireTimer: NodeJS.Timeout | undefined;

  constructor(opts: PeerWebOptions, guard: WebGuard) {
    this.#o = opts;
    this.app = new WebApp({
      kind: 'peer',
      guard,
      assets: opts.assets,
      hub: this.hub,
      title: () => {
        const names = [...opts.client.sessions.values()].map((s) => s.metainfo.name);
        return `chunkswarm ${opts.command}${names.length > 0 ? ` — ${names.join(', ')}` : ''}`;
      },
      state: () => this.state(),
      routes: [
        { method: 'GET', path: '/api/state', handle: (_q, res) => sendJson(res, 200, this.state()) },
        {
          method: 'POST',
          path: /^\/api\/torrents\/([0-9a-f]{40})\/(pause|resume)$/,
          handle: (_q, res, p) => this.#pause(res, p[0]!, p[1] === 'pause'),
        },
        {
          method: 'POST',
          path: /^\/api\/torrents\/([0-9a-f]{40})\/files$/,
          handle: (req, res, p) => this.#select(req, res, p[0]!),
        },
        {
          method: 'GET',
          path: /^\/stream\/([0-9a-f]{40})(?:\/.*)?$/s,
          handle: (req, res, p) => this.#stream(req, res, p[0]!),
        },
        { method: 'POST', path: '/api/limits', handle: (req, res) => this.#limits(req, res) },
        { method: 'POST', path: '/api/torrents', handle: (req, res) => this.#add(req, res) },
        { method: 'POST', path: '/api/magnet', handle: (req, res) => this.#magnet(req, res) },
        { method: 'POST', path: '/api/console', handle: (req, res) => this.#console(req, res) },
        { method: 'GET', path: '/api/wire', handle: (_q, res) => this.#wireList(res) },
        { method: 'GET', path: '/api/wire/events', handle: (_q, res) => this.#wireEvents(res) },
        {
          method: 'GET',
          path: /^\/api\/wire\/(\d{1,9})$/,
          handle: (_q, res, p) => this.#wireBacklog(res, p[0]!),
        },
      ],
    });
  }

  get guard(): WebGuard {
    return this.app.guard;
  }

  /** Starts watching the client's sessions (call once the client listens). */
  start(): void {
    this.#me = formatAddress(this.#o.client.host, this.#o.client.port);
    this.#sync();
    this.#sampler = setInterval(() => this.#sample(), SAMPLE_MS);
    this.#sampler.unref();
    if (this.#o.trace) {
      this.#wireTimer = setInterval(() => this.#wirePush(), WIRE_PUSH_MS);
      this.#wireTimer.unref();
    }
  }

  close(): void {
    clearInterval(this.#sampler);
    clearInterval(this.#wireTimer);
    this.wireHub.close();
    this.#push.cancel();
    for (const t of this.#tracked.values()) for (const off of t.off) off();
    this.#tracked.clear();
    for (const f of this.#fetching.values()) f.fetch.stop('stopped: the page closed');
    this.#fetching.clear();
    this.hub.close();
  }

  state(): PeerPageState {
    this.#sync();
    const c = this.#o.client;
    return {
      now: Date.now(),
      listen: this.#me,
      command: this.#o.command,
      wire: this.#o.trace !== undefined,
      limits: { upload: c.uploadBucket.rate, download: c.downloadBucket.rate },
      dht: c.dht?.stats ? (({ nodes, goodNodes }) => ({ nodes, goodNodes }))(c.dht.stats()) : null,
      addDisabled: this.#o.addTorrent
        ? null
        : (this.#o.addDisabled ?? `chunkswarm ${this.#o.command} does not take more torrents`),
      torrents: [...this.#tracked.values()].map((t) => this.#torrentView(t)),
      // A fetch whose session has just opened is shown as that session only.
      fetching: [...this.#fetching]
        .filter(([hash]) => !this.#tracked.has(hash))
        .map(
          ([hash, f]): MagnetFetchView => ({
            infoHash: hash,
            name: f.fetch.label,
            ...f.fetch.peerCount,
            error: f.error,
          }),
        ),
    };
  }

  /** Follows sessions the client gained (a torrent added from the page or the command line). */
  #sync(): void {
    for (const [hash, session] of this.#o.client.sessions) {
      if (this.#tracked.has(hash)) continue;
      const push = (): void => this.#push();
      const ev = session.events;
      const off = [
        ev.on('piece-verified', push),
        ev.on('piece-failed', push),
        ev.on('peer-connected', push),
        ev.on('peer-disconnected', push),
        ev.on('peer-have', push),
        ev.on('paused', push),
        ev.on('complete', push),
        ev.on('announce', push),
        ev.on('wanted', push),
      ];
      this.#tracked.set(hash, { session, off, t: [], down: [], up: [], console: undefined });
    }
  }

  #sample(): void {
    this.#sync();
    const now = Math.floor(Date.now() / 1000);
    for (const t of this.#tracked.values()) {
      t.t.push(now);
      t.down.push(t.session.down.current);
      t.up.push(t.session.up.current);
      if (t.t.length > RATE_HISTORY) {
        t.t.shift();
        t.down.shift();
        t.up.shift();
      }
    }
    // Rates move every second even when no event fires.
    if (this.hub.size > 0) this.hub.broadcast('state', this.state());
  }

  #torrentView(t: Tracked): TorrentView {
    const s = t.session;
    const st = torrentStatus(s);
    const full = this.#o.shell?.session === s;
    return {
      infoHash: st.infoHash,
      name: st.name,
      size: st.size,
      pieceCount: st.pieceCount,
      pieceLength: s.metainfo.pieceLength,
      have: st.have,
      done: st.done,
      complete: st.complete,
      paused: st.paused,
      mode: st.mode,
      trackerConnected: s.trackerConnected,
      tracker: trackerWords(st.tracker, s.clock.now()),
      waitingFor: st.waitingFor,
      seeding: st.seeding,
      notConnected: st.notConnected.slice(0, 20),
      webSeeds: st.webSeeds,
      downRate: st.downRate,
      upRate: st.upRate,
      downloaded: st.downloaded,
      uploaded: st.uploaded,
      map: chunkMap(s.pieceCount, (i) => s.have.has(i), new Set(s.picker.partialPieces())),
      rates: { t: t.t, down: t.down, up: t.up },
      peers: st.peers.map(peerView),
      files: this.#files(s),
      fileCount: s.metainfo.files.length,
      selectable: !st.complete,
      console: full ? 'full' : 'read-only',
    };
  }

  #files(s: TorrentSession): FileView[] {
    const hash = s.metainfo.infoHashHex;
    return FileSelection.of(s)
      .status()
      .slice(0, MAX_FILES_SHOWN)
      .map((f) => ({
        ...f,
        stream:
          f.selected || f.done === f.size
            ? `/stream/${hash}/${f.index}/${encodeURIComponent(f.path.slice(f.path.lastIndexOf('/') + 1))}`
            : null,
      }));
  }

  /**
   * The files to download: `{"select": "0,2-4"}` (the syntax of `download --select`) or `{"select": "all"}`,
   * or one checkbox, `{"file": 3, "selected": false}`.
   */
  async #select(req: IncomingMessage, res: ServerResponse, infoHash: string): Promise<void> {
    try {
      const { session } = this.#session(infoHash);
      const body = await readJson(req);
      if (session.complete)
        throw new ChunkswarmError('EUSAGE', `every file of ${session.metainfo.name} is here already`);
      const count = session.metainfo.files.length;
      const sel = FileSelection.of(session);
      let files: Set<number>;
      if (typeof body.select === 'string') {
        files =
          body.select === 'all'
            ? new Set(Array.from({ length: count }, (_, i) => i))
            : parseSelect(body.select, count);
      } else if (
        typeof body.file === 'number' &&
        Number.isSafeInteger(body.file) &&
        typeof body.selected === 'boolean'
      ) {
        filePathInTorrent(session.metainfo, body.file); // one line when there is no such file
        files = new Set(sel.files);
        if (body.selected) files.add(body.file);
        else files.delete(body.file);
      } else {
        throw new ChunkswarmError(
          'EUSAGE',
          'send {"select": "0,2-4"}, {"select": "all"} or {"file": N, "selected": true|false}',
        );
      }
      await sel.set(files);
      this.#push();
      sendJson(res, 200, { selected: [...sel.files].sort((a, b) => a - b) });
    } catch (err) {
      sendError(res, err, { Connection: 'close' });
    }
  }

  /**
   * A file of any torrent here, over HTTP with Range requests (web/stream.ts): chosen files, read as their
   * pieces are verified, the read position steering the picker; a file left out only once it is whole.
   */
  #stream(req: IncomingMessage, res: ServerResponse, infoHash: string): void {
    let session: TorrentSession;
    try {
      session = this.#session(infoHash).session;
    } catch (err) {
      sendError(res, err);
      return;
    }
    const sel = FileSelection.of(session);
    streamHandler({
      basePath: `/stream/${infoHash}`,
      sources: (index) => {
        const m = session.metainfo;
        if (index >= m.files.length) return undefined;
        const whole = sel.status()[index]!;
        if (!sel.files.has(index) && whole.done !== whole.size) return undefined;
        const source = torrentFileSource({
          storage: session.storage,
          fileIndex: index,
          isVerified: (i) => session.have.has(i),
          onPieceVerified: (fn) => session.events.on('piece-verified', (i) => fn(i)),
          onWindow: (w) => session.picker.setStreamWindow(w),
        });
        return { source, name: filePathInTorrent(m, index) };
      },
    })(req, res);
  }

  #session(infoHash: string): Tracked {
    this.#sync();
    const t = this.#tracked.get(infoHash);
    if (!t) throw new ChunkswarmError('EUSAGE', `no torrent ${infoHash} in this process`);
    return t;
  }

  #pause(res: ServerResponse, infoHash: string, paused: boolean): void {
    try {
      const { session } = this.#session(infoHash);
      session.setPaused(paused);
      this.#push();
      sendJson(res, 200, { paused: session.paused });
    } catch (err) {
      sendError(res, err);
    }
  }

  async #limits(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readJson(req);
      const c = this.#o.client;
      const upload = rateField(body.upload, 'upload');
      const download = rateField(body.download, 'download');
      if (upload !== undefined) c.uploadBucket.setRate(upload);
      if (download !== undefined) c.downloadBucket.setRate(download);
      this.#push();
      sendJson(res, 200, { upload: c.uploadBucket.rate, download: c.downloadBucket.rate });
    } catch (err) {
      sendError(res, err, { Connection: 'close' });
    }
  }

  async #add(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      // Refuse before reading: no reason to take 4 MiB we will not use.
      const add = this.#adder();
      const bytes = await readBody(req, LIMITS.webUploadBytes);
      if (bytes.subarray(0, 7).toString('latin1') === 'magnet:') {
        sendJson(res, 202, this.#fetchMetadata(bytes.toString('utf8'), add));
        return;
      }
      let meta: Metainfo;
      try {
        meta = parseMetainfo(bytes);
      } catch (err) {
        throw new ChunkswarmError(
          err instanceof ChunkswarmError ? err.code : 'EMETAINFO',
          `not a usable .torrent: ${describeError(err)}`,
        );
      }
      if (this.#o.client.sessions.has(meta.infoHashHex)) {
        throw new ChunkswarmError('EUSAGE', `${meta.name} is already open in this process`);
      }
      const session = await add(meta);
      this.#sync();
      this.#push();
      sendJson(res, 200, { infoHash: session.metainfo.infoHashHex, name: session.metainfo.name });
    } catch (err) {
      sendError(res, err, { Connection: 'close' });
    }
  }

  async #magnet(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const add = this.#adder();
      const body = await readJson(req);
      if (typeof body.uri !== 'string')
        throw new ChunkswarmError('EUSAGE', 'send the magnet link as {"uri": "magnet:?..."}');
      // Accepted, not done: the metadata comes from peers (BEP 9), and the page follows it in the state.
      sendJson(res, 202, this.#fetchMetadata(body.uri, add));
    } catch (err) {
      sendError(res, err, { Connection: 'close' });
    }
  }

  #adder(): NonNullable<PeerWebOptions['addTorrent']> {
    const add = this.#o.addTorrent;
    if (!add)
      throw new ChunkswarmError('EUSAGE', this.state().addDisabled ?? 'adding torrents is not offered here');
    return add;
  }

  /**
   * Starts fetching a magnet's metadata and returns at once; once it is here the torrent opens like
   * one added from a .torrent, and a failure stays on the page as one line.
   */
  #fetchMetadata(
    uri: string,
    add: NonNullable<PeerWebOptions['addTorrent']>,
  ): { infoHash: string; name: string; message: string } {
    const link = parseMagnet(uri.trim());
    checkMagnetSources(link);
    const hash = link.infoHashHex;
    const label = link.name ?? hash;
    const c = this.#o.client;
    if (c.sessions.has(hash)) throw new ChunkswarmError('EUSAGE', `${label} is already open in this process`);
    if (this.#fetching.get(hash)?.error === null)
      throw new ChunkswarmError('EUSAGE', `the metadata of ${label} is already being fetched`);
    if ([...this.#fetching.values()].filter((f) => f.error === null).length >= MAX_FETCHES)
      throw new ChunkswarmError(
        'EUSAGE',
        `${MAX_FETCHES} magnet links are fetching their metadata already: wait for one to finish`,
      );
    const fetch = c.fetchMetadata(link, { timeoutMs: this.#o.metadataTimeoutMs });
    const entry: Fetching = { fetch, error: null };
    // A retry of a failed link takes the old entry's place, at the end.
    this.#fetching.delete(hash);
    this.#fetching.set(hash, entry);
    const push = (): void => this.#push();
    const ev = fetch.events;
    const off = [ev.on('peer-connected', push), ev.on('peer-disconnected', push), ev.on('piece', push)];
    const release = this.#o.holdWhileFetching?.();
    fetch
      .run()
      .then(async (result) => {
        // Opened meanwhile (from the command line, or its .torrent from this page): it takes the peers.
        const session =
          c.sessions.get(hash) ??
          (await add(result.metainfo).catch((err: unknown) => {
            for (const conn of result.connections) conn.close('the torrent could not be opened');
            throw err;
          }));
        c.handOver(session, result);
        if (this.#fetching.get(hash) === entry) this.#fetching.delete(hash);
      })
      .catch((err) => {
        entry.error = describeError(err);
        this.#o.log?.(`web page: ${entry.error}`);
        const failed = [...this.#fetching].filter(([, f]) => f.error !== null);
        for (const [h] of failed.slice(0, -MAX_FAILED)) this.#fetching.delete(h);
      })
      .finally(() => {
        for (const f of off) f();
        this.#push();
        release?.();
      });
    this.#push();
    this.#o.log?.(`fetching the metadata of ${label} from peers (magnet link from the web page)`);
    return { infoHash: hash, name: label, message: `fetching metadata for ${label}` };
  }

  async #console(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readJson(req);
      const line = body.line;
      if (typeof line !== 'string' || line.length > MAX_CONSOLE_LINE || /[\r\n]/.test(line)) {
        throw new ChunkswarmError(
          'EUSAGE',
          `send one command line of at most ${MAX_CONSOLE_LINE} characters`,
        );
      }
      const hash = typeof body.infoHash === 'string' ? body.infoHash : undefined;
      const t = hash !== undefined ? this.#session(hash) : this.#defaultConsoleSession();
      let run = t.console;
      if (!run) {
        const shell = this.#o.shell;
        run = shell?.session === t.session ? shell.run : readOnlyConsole(t.session, this.#me);
        t.console = run;
      }
      sendJson(res, 200, { lines: await run(line) });
    } catch (err) {
      sendError(res, err, { Connection: 'close' });
    }
  }

  #traceBook(): TraceBook {
    const book = this.#o.trace;
    if (!book) throw new ChunkswarmError('EUSAGE', 'start the command with --trace to see the wire');
    return book;
  }

  #wireList(res: ServerResponse): void {
    try {
      sendJson(res, 200, { connections: this.#traceBook().connections() });
    } catch (err) {
      sendError(res, err);
    }
  }

  #wireBacklog(res: ServerResponse, id: string): void {
    try {
      const book = this.#traceBook();
      const connection = book.connection(Number(id));
      if (!connection) {
        sendJson(res, 404, { error: `no traced connection ${id} (closed ones are kept for a while only)` });
        return;
      }
      const reply: WireBacklog = { connection, entries: book.entries(connection.id) };
      sendJson(res, 200, reply);
    } catch (err) {
      sendError(res, err);
    }
  }

  #wireEvents(res: ServerResponse): void {
    try {
      const first: WirePush = { connections: this.#traceBook().connections(), entries: [], skipped: 0 };
      this.wireHub.open(res, 'wire', first);
    } catch (err) {
      sendError(res, err);
    }
  }

  /**
   * Sends the messages traced since the last push, to every open Wire panel. Nothing is built while none is
   * open; the cursors move on anyway, and a panel that opens reads the backlog of the connection it shows.
   */
  #wirePush(): void {
    const book = this.#o.trace;
    if (!book) return;
    const connections = book.connections();
    const listening = this.wireHub.size > 0;
    const entries: (WirePush['entries'][number] & { order: number })[] = [];
    let skipped = 0;
    const seen = new Set<number>();
    for (const c of connections) {
      seen.add(c.id);
      const from = this.#wireSent.get(c.id) ?? 0;
      this.#wireSent.set(c.id, c.total);
      if (!listening || c.total <= from) continue;
      const fresh = book.entries(c.id, from);
      skipped += c.total - from - fresh.length;
      for (const e of fresh) entries.push({ ...e, conn: c.id, order: e.at });
    }
    for (const id of this.#wireSent.keys()) if (!seen.has(id)) this.#wireSent.delete(id);
    if (!listening) return;
    const key = connections.map((c) => `${c.id}${c.closed ? 'c' : ''}${c.address}${c.client}`).join(',');
    if (entries.length === 0 && key === this.#wireKey) return;
    this.#wireKey = key;
    // Several connections: in time order, so the newest are kept when there are too many.
    entries.sort((a, b) => a.order - b.order);
    const kept = entries.slice(-MAX_WIRE_PUSH).map(({ order: _, ...e }) => e);
    const push: WirePush = { connections, entries: kept, skipped: skipped + entries.length - kept.length };
    this.wireHub.broadcast('wire', push);
  }

  #defaultConsoleSession(): Tracked {
    this.#sync();
    const shell = this.#o.shell?.session.metainfo.infoHashHex;
    const t =
      (shell !== undefined ? this.#tracked.get(shell) : undefined) ?? this.#tracked.values().next().value;
    if (!t) throw new ChunkswarmError('EUSAGE', 'no torrent is open');
    return t;
  }
}

/** Starts the peer page on its own HTTP server; resolves once it listens. */
export async function startPeerWeb(opts: PeerWebOptions): Promise<PeerWebHandle> {
  const host = opts.host ?? '127.0.0.1';
  const generated = opts.accessToken === undefined && !isLoopbackHost(host);
  const accessToken = opts.accessToken ?? (generated ? newToken() : undefined);
  const server = createServer({
    maxHeaderSize: 16 * 1024,
    // Long enough for a 4 MiB upload over a slow link, short enough that a stalled request is let go.
    requestTimeout: 60_000,
    headersTimeout: 10_000,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
  const guard = new WebGuard(
    { accessToken, allowedHosts: [...(opts.allowedHosts ?? []), host] },
    String(port),
  );
  const web = new PeerWeb(opts, guard);
  server.on('request', web.app.handle);
  server.on('clientError', (_err, socket) => socket.destroy());
  web.start();
  let closing: Promise<void> | undefined;
  return {
    url: `http://${formatAddress(host, port)}/`,
    host,
    port,
    accessToken,
    generatedToken: generated,
    web,
    close() {
      closing ??= new Promise<void>((resolve) => {
        web.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function rateField(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_RATE) {
    throw new ChunkswarmError(
      'EUSAGE',
      `${what} limit must be a whole number of bytes per second (0: unlimited)`,
    );
  }
  return v;
}

function peerView({ silent, requests, ...p }: PeerStatus): PeerView {
  return {
    ...p,
    snubbed: p.snubbed || silent,
    outgoing: p.source !== 'incoming',
    flags: peerFlags({
      ...p,
      downloading: p.downRate > 0 || requests > 0,
      uploading: p.upRate > 0,
      incoming: p.source === 'incoming',
    }),
  };
}

/** The chunk map: one cell per chunk, or per run of chunks past MAX_MAP_CELLS (see ChunkMapView). */
export function chunkMap(
  pieceCount: number,
  held: (i: number) => boolean,
  inFlight: ReadonlySet<number>,
): ChunkMapView {
  const per = Math.max(1, Math.ceil(pieceCount / MAX_MAP_CELLS));
  let cells = '';
  for (let start = 0; start < pieceCount; start += per) {
    const end = Math.min(pieceCount, start + per);
    let h = 0;
    let f = false;
    for (let i = start; i < end; i++) {
      if (held(i)) h++;
      else if (inFlight.has(i)) f = true;
    }
    cells += f ? 'f' : h === end - start ? 'h' : h > 0 ? 'p' : 'm';
  }
  return { cells, chunksPerCell: per };
}
