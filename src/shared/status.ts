/**
 * The plain data of a torrent's status (made by session/status.ts): types only, with no imports, so the web pages'
 * bundle can share them without Node's types.
 */

/**
 * How a session moves data. `auto`: the engine fetches everything (download); `manual`: only what the
 * shell asks for (`/request_download`, an offer, `/auto_download` switches to auto); `seed`: serve only.
 */
export type SessionMode = 'auto' | 'manual' | 'seed';

/** Where we heard of a peer (shown on the pages): or `incoming`, it dialled us. */
export type PeerSource = 'tracker' | 'dht' | 'pex' | 'magnet' | 'manual' | 'incoming';

export interface PeerStatus {
  readonly address: string;
  readonly client: string;
  /** Where we heard of it: a tracker, the DHT, PEX, a magnet's `x.pe`, the shell; or it dialled us. */
  readonly source: PeerSource;
  readonly seeder: boolean;
  /** Chunks it holds. */
  readonly have: number;
  readonly amChoking: boolean;
  readonly amInterested: boolean;
  readonly peerChoking: boolean;
  readonly peerInterested: boolean;
  /** It holds our optimistic unchoke. */
  readonly optimistic: boolean;
  /** We want data from it and it sent nothing for a minute. */
  readonly snubbed: boolean;
  /** It stopped answering our requests: they went to other peers. */
  readonly silent: boolean;
  readonly downRate: number;
  readonly upRate: number;
  /** Our requests it has not answered yet. */
  readonly requests: number;
  /** The chunks those requests are for, ascending. */
  readonly requesting: readonly number[];
  /** Bytes it sent us and we sent it over this connection. */
  readonly downloaded: number;
  readonly uploaded: number;
}

export interface TrackerStatus {
  /** off: not announcing (the shell before /connect_tracker); failing: the last announce got no answer. */
  readonly state: 'off' | 'ok' | 'failing' | 'waiting';
  readonly lastError: string | undefined;
  /** When the next announce is due, in ms on the session's clock. */
  readonly nextAt: number | undefined;
  /** Peers the trackers gave in their last answer. */
  readonly peers: number;
}

/** A torrent's figures and what it waits for: what every view of it starts from. */
export interface TorrentFigures {
  readonly infoHash: string;
  readonly name: string;
  readonly size: number;
  readonly pieceCount: number;
  readonly have: number;
  readonly done: number;
  readonly downRate: number;
  readonly upRate: number;
  /** What the download waits for, when it is stuck; undefined while it moves (or is complete). */
  readonly waitingFor: string | undefined;
}

/** What a download's progress line shows, made twice a second: the figures, the peers only counted. */
/** A BEP 19 web seed of a download, as its status shows it. */
export interface WebSeedStatus {
  readonly url: string;
  /** `fetching`, `idle` (nothing to ask of it now), `retrying` after a failure, or `banned` for bad data. */
  readonly state: 'fetching' | 'idle' | 'retrying' | 'banned';
  readonly downloaded: number;
  readonly lastError: string | undefined;
  /** While `retrying`: when it is asked again (ms on the session's clock). */
  readonly retryAt: number | undefined;
}

export interface TorrentProgress extends TorrentFigures {
  readonly peerCount: number;
  /** BEP 19 web seeds in use (not banned). */
  readonly webSeedCount: number;
}

export interface TorrentStatus extends TorrentFigures {
  readonly complete: boolean;
  readonly paused: boolean;
  readonly mode: SessionMode;
  readonly downloaded: number;
  readonly uploaded: number;
  readonly peers: readonly PeerStatus[];
  readonly tracker: TrackerStatus;
  /**
   * A seeder that held the torrent from the start, in words: its first pass (every chunk sent once before any
   * twice) or standing aside after it; undefined otherwise.
   */
  readonly seeding: string | undefined;
  /** Peers we know of and are not connected to, and why. */
  readonly notConnected: readonly { readonly address: string; readonly why: string }[];
  /** BEP 19 web seeds a download fetches from. */
  readonly webSeeds: readonly WebSeedStatus[];
}

/** One file of a torrent as the pages and the shell's `/select` show it. */
export interface FileStatus {
  readonly index: number;
  /** Its path within the torrent, `/`-separated. */
  readonly path: string;
  readonly size: number;
  readonly selected: boolean;
  /** Its bytes that lie in verified chunks. */
  readonly done: number;
}
