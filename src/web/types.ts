/**
 * What the dashboards' servers send their pages, as JSON. The pages (web/*.tsx, bundled by esbuild)
 * import these types, so both sides agree on every field. Plain data only: no classes, no Buffers.
 */
import type { TracedConnectionView, TraceEntry } from '../peer/trace-view.js';

import type { FileStatus, PeerStatus, WebSeedStatus } from '../shared/status.js';

// ---- tracker page ----

export interface TrackerState {
  readonly announceUrl: string;
  /** Server time (ms) of this state; "last seen" is shown relative to it, not to the browser's clock. */
  readonly now: number;
  readonly swarms: readonly SwarmView[];
  /** Swarms not listed (the page shows at most MAX_SWARMS). */
  readonly swarmsOmitted: number;
  /** How many .torrent files the tracker knows (uploaded or from --torrents). */
  readonly registered: number;
  /** This process's request counts (the /metrics counters, summed): no addresses in them. */
  readonly stats?: TrackerStatsView;
}

export interface TrackerStatsView {
  readonly announcesHttp: number;
  readonly announcesUdp: number;
  readonly scrapes: number;
  /** Announces and scrapes answered with a failure reason (bad request, full, store down). */
  readonly failed: number;
  readonly storeErrors: number;
  /** Mean announce latency in ms, store included; null before the first announce. */
  readonly meanAnnounceMs: number | null;
  /** Where swarms live: memory, sqlite or redis. */
  readonly store: string;
}

export interface SwarmView {
  readonly infoHash: string;
  /** From a registered .torrent first, else the first name a chunkswarm peer announced. */
  readonly name: string | null;
  readonly nameFrom: 'torrent' | 'announce' | null;
  readonly seeders: number;
  readonly leechers: number;
  /** `completed` events counted by the tracker. */
  readonly completed: number;
  readonly pieces: number | null;
  /** Bytes, when a .torrent is registered. */
  readonly size: number | null;
  /** A .torrent is registered: `/torrents/<infoHash>.torrent` serves it. */
  readonly hasTorrent: boolean;
  readonly magnet: string;
  readonly peers: readonly SwarmPeerView[];
  readonly peersOmitted: number;
  readonly availability: AvailabilityMap | null;
  /** Who sends to whom, from the rates chunkswarm peers announce (`cs_rates`); null in summaries. */
  readonly graph: SwarmGraph | null;
}

/** The swarm graph of the tracker's page (see swarm-graph.ts). */
export interface SwarmGraph {
  readonly nodes: readonly SwarmGraphNode[];
  /** Sender to receiver, bytes per second, fastest first. */
  readonly edges: readonly { readonly from: string; readonly to: string; readonly rate: number }[];
  readonly nodesOmitted: number;
  readonly edgesOmitted: number;
}

export interface SwarmGraphNode {
  /** ip:port, as in the peer set. */
  readonly id: string;
  /** False for an address only another peer's rates name. */
  readonly known: boolean;
  readonly seeder: boolean;
  /** The peer sends its rates (a chunkswarm peer); edges of others come from their partners only. */
  readonly reports: boolean;
  /** Fraction held of each run of chunks (up to STRIP_CELLS); null when unknown. */
  readonly strip: readonly number[] | null;
}

export interface SwarmPeerView {
  readonly address: string;
  readonly client: string;
  /** 0..1, or null when the peer sent neither chunk status nor `left` we can relate to a size. */
  readonly progress: number | null;
  readonly have: number | null;
  readonly seeder: boolean;
  readonly uploaded: number;
  readonly downloaded: number;
  readonly lastSeen: number;
}

/** How many peers hold each chunk; one cell per chunk, or the rarest chunk of a run when there are many. */
export interface AvailabilityMap {
  readonly cells: readonly number[];
  readonly chunksPerCell: number;
  /** Peers whose chunks are known (a bitfield, or a seeder); others are not counted. */
  readonly peersCounted: number;
  readonly peersUnknown: number;
}

// ---- peer page ----

export interface PeerPageState {
  readonly now: number;
  /** `ip:port` the peer listens on. */
  readonly listen: string;
  readonly command: 'download' | 'seed' | 'peer';
  /** Started with --trace: the Wire panel has messages to show (`/api/wire`). */
  readonly wire: boolean;
  /** Bytes per second, 0 for unlimited: totals for the process. */
  readonly limits: { readonly upload: number; readonly download: number };
  /** Why adding a torrent is not offered here, or null when it is. */
  readonly addDisabled: string | null;
  readonly torrents: readonly TorrentView[];
  /** Magnet links added from the page that have no session yet: fetching their metadata, or failed. */
  readonly fetching: readonly MagnetFetchView[];
  /** The process's DHT node, when it runs one (BEP 5): nodes in its routing table. */
  readonly dht: { readonly nodes: number; readonly goodNodes: number } | null;
}

/** A magnet link whose metadata is being fetched from peers (BEP 9); it becomes a TorrentView once here. */
export interface MagnetFetchView {
  readonly infoHash: string;
  /** The link's `dn`, else the infohash. */
  readonly name: string;
  /** Peers connected for the metadata, and how many of them offer it. */
  readonly connected: number;
  readonly offering: number;
  /** Why the fetch failed, in one line; null while it runs. */
  readonly error: string | null;
}

export interface TorrentView {
  readonly infoHash: string;
  readonly name: string;
  readonly size: number;
  readonly pieceCount: number;
  readonly pieceLength: number;
  readonly have: number;
  /** Bytes verified. */
  readonly done: number;
  readonly complete: boolean;
  readonly paused: boolean;
  readonly mode: 'auto' | 'manual' | 'seed';
  readonly trackerConnected: boolean;
  /** The tracker in words: connected, or why not and when it is tried again. */
  readonly tracker: string;
  /** What a stalled download waits for (undefined while it moves). */
  readonly waitingFor: string | undefined;
  /** A seeder's first pass or standing aside, in words (TorrentStatus.seeding). */
  readonly seeding: string | undefined;
  /** Peers known and not connected, and why (at most 20). */
  readonly notConnected: readonly { readonly address: string; readonly why: string }[];
  /** BEP 19 web seeds the download fetches from. */
  readonly webSeeds: readonly WebSeedStatus[];
  readonly downRate: number;
  readonly upRate: number;
  readonly downloaded: number;
  readonly uploaded: number;
  readonly map: ChunkMapView;
  /** One sample a second, oldest first. */
  readonly rates: {
    readonly t: readonly number[];
    readonly down: readonly number[];
    readonly up: readonly number[];
  };
  readonly peers: readonly PeerView[];
  /** The torrent's files (the first MAX_FILES_SHOWN), with the selection; empty until a magnet's metadata is here. */
  readonly files: readonly FileView[];
  /** How many files the torrent has (more than `files` holds past MAX_FILES_SHOWN). */
  readonly fileCount: number;
  /** The selection can be changed here (not once every file is here). */
  readonly selectable: boolean;
  /** `full`: every slash command; `read-only`: the commands that only look. */
  readonly console: 'full' | 'read-only';
}

/** One file and its selection; `stream` is where the page serves it (Range requests), when it can. */
export interface FileView extends FileStatus {
  /** `/stream/<infohash>/<index>/<name>` for a selected or fully verified file; null otherwise. */
  readonly stream: string | null;
}

/**
 * Chunk states, one character per cell: `h` held, `f` in flight, `p` partly held (a cell of many
 * chunks), `m` missing. One cell per chunk up to MAX_CELLS chunks.
 */
export interface ChunkMapView {
  readonly cells: string;
  readonly chunksPerCell: number;
}

/** A connected peer as the page shows it: its status (see session/status.ts) and its flags in letters. */
export interface PeerView extends Omit<PeerStatus, 'silent' | 'requests'> {
  readonly outgoing: boolean;
  /** Transmission-style letters (see peerFlags). */
  readonly flags: string;
}

export interface ConsoleLine {
  readonly text: string;
  readonly kind?: 'ok' | 'error' | 'info' | undefined;
}

export interface ConsoleReply {
  readonly lines: readonly ConsoleLine[];
}

/** Every error answer: what went wrong in words, and the stable code. */
export interface ErrorReply {
  readonly error: string;
  readonly code?: string;
  /** On a 403 for a missing or wrong request token: the token to use. */
  readonly token?: string;
}

// ---- the Wire panel (`--trace`) ----

/** A connection whose messages are traced, and one message, as src/peer/trace.ts records them. */
export type WireConnectionView = TracedConnectionView;
export type WireEntryView = TraceEntry;

/** `GET /api/wire/<id>`: what the server still holds of one connection. */
export interface WireBacklog {
  readonly connection: WireConnectionView;
  readonly entries: readonly WireEntryView[];
}

/** A `wire` event: the traced connections, and the messages since the last one (in order per connection). */
export interface WirePush {
  readonly connections: readonly WireConnectionView[];
  readonly entries: readonly (WireEntryView & { readonly conn: number })[];
  /** Messages left out of this push to keep it small (a fast transfer); the backlog still has the latest. */
  readonly skipped: number;
}
