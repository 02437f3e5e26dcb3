import type { InfoHashHex } from '../shared/types.js';

/** One file of a torrent, placed in the torrent's single byte stream at `offset`. */
export interface FileEntry {
  /** Path components below the torrent's name (a single-file torrent: `[name]`). Already checked safe. */
  readonly path: readonly string[];
  readonly length: number;
  readonly offset: number;
  /** BEP 47 attribute 'x': made executable when it is created. */
  readonly executable?: boolean;
}

/** What storage and the picker need to know about a torrent's bytes. */
export interface TorrentLayout {
  readonly name: string;
  readonly pieceLength: number;
  readonly pieceCount: number;
  readonly totalLength: number;
  /** For a single-file torrent, one entry whose path is `[name]`; for multi-file, paths under `name/`. */
  readonly files: readonly FileEntry[];
  readonly multiFile: boolean;
  /** 20 bytes per piece, concatenated, as in the `pieces` key. */
  readonly pieceHashes: Buffer;
  /**
   * BEP 47 padding files: runs of zeros that start the next file on a piece boundary. They are part of the
   * pieces (and of `totalLength`) but stored nowhere and not in `files`, whose offsets skip them. Ascending;
   * absent or empty when the torrent has none.
   */
  readonly padding?: readonly ByteRange[];
}

/** A run of the torrent's byte stream. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface Metainfo extends TorrentLayout {
  readonly infoHash: Buffer;
  readonly infoHashHex: InfoHashHex;
  /** The exact `info` bytes from the file: the infohash is their SHA-1 (never re-encoded). */
  readonly infoBytes: Buffer;
  readonly announce: string | undefined;
  /** BEP 12 tiers; when the torrent has only `announce`, one tier holding it. */
  readonly announceList: readonly (readonly string[])[];
  readonly private: boolean;
  /** BEP 5 `nodes`: DHT nodes the torrent's author named, as host (name or address) and port. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** BEP 19 `url-list`: HTTP(S) servers holding the files. Read so `info` and `download` can name them; not used to fetch. */
  readonly webSeeds: readonly string[];
  readonly comment: string | undefined;
  readonly createdBy: string | undefined;
  readonly creationDate: number | undefined;
}

/** A run of bytes of one piece that lies in one file. */
export interface FileSpan {
  readonly fileIndex: number;
  /** Where in that file the run starts. */
  readonly fileOffset: number;
  /** Where in the piece the run starts. */
  readonly pieceOffset: number;
  readonly length: number;
}

export interface MagnetLink {
  readonly infoHash: Buffer;
  readonly infoHashHex: InfoHashHex;
  readonly name: string | undefined;
  readonly trackers: readonly string[];
  /** `x.pe` peer addresses (BEP 9), as host:port strings. */
  readonly peers: readonly string[];
  /** `ws` web seeds (BEP 19 servers, as WebTorrent's links carry them): http(s) URLs. */
  readonly webSeeds: readonly string[];
}
