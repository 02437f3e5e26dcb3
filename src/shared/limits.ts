/**
 * Hard limits, in one place, each with a safe default. Decoders take them as parameters so tests
 * (and a cautious user) can tighten them; nothing allocates what a length field claims before the
 * relevant cap is checked.
 */
export const LIMITS = {
  /** Deepest nesting of lists/dicts a bencode decoder accepts. */
  bencodeDepth: 64,
  /** Most tokens (integers, strings, list/dict openers) in one bencoded document. */
  bencodeTokens: 1_000_000,
  /** Largest .torrent file (and BEP 9 metadata) we read. */
  metainfoBytes: 16 * 1024 * 1024,
  /** BitTorrent block size: every REQUEST asks for at most this many bytes. */
  blockSize: 16 * 1024,
  /** A PIECE message: 1 (id) + 4 (index) + 4 (begin) + one block. */
  pieceMessageBytes: 9 + 16 * 1024,
  /** An extension message (BEP 10) payload. */
  extensionMessageBytes: 1024 * 1024,
  /** Smallest and largest piece length accepted in a torrent or by `create`. */
  minPieceLength: 16 * 1024,
  maxPieceLength: 16 * 1024 * 1024,
  /** Default piece length: the seed assignment's 512 KiB chunk. */
  defaultPieceLength: 512 * 1024,
  /** Most pieces in one torrent (keeps bitfields and hash tables bounded). */
  maxPieces: 1 << 22,
  /** Most files in one torrent. */
  maxFiles: 100_000,
  /** Requests a remote peer may have outstanding with us (advertised as `reqq`, BEP 10). */
  maxIncomingRequests: 500,
  /** Requests we keep in flight to one peer at most. */
  maxOutgoingRequests: 256,
  /** Peer connections per torrent and per process. */
  maxPeersPerTorrent: 80,
  maxPeersTotal: 400,
  /** Time a new connection has to finish the handshake, and an idle connection to show life. */
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 180_000,
  /** Tracker HTTP request (line + headers) size, and how long a request may take to arrive. */
  trackerRequestBytes: 8 * 1024,
  trackerRequestTimeoutMs: 10_000,
  /** numwant when absent, and its cap. */
  trackerDefaultNumwant: 50,
  trackerMaxNumwant: 200,
  /** Infohashes in one scrape request, and peers kept per swarm. */
  trackerMaxScrapeHashes: 64,
  trackerMaxPeersPerSwarm: 5_000,
  /** Peers one chunkswarm announce reports transfer rates for (`cs_rates`, the tracker page's swarm graph). */
  trackerMaxRates: 16,
  trackerMaxSwarms: 100_000,
  /** Largest .torrent uploaded through a web page. */
  webUploadBytes: 4 * 1024 * 1024,
  /** Largest KRPC datagram (BEP 5) read or sent: a UDP packet that fits a common path MTU. */
  dhtDatagramBytes: 1500,
  /** Longest transaction id and token taken from another node (ours are 2 and 8 bytes). */
  dhtTransactionIdBytes: 32,
  dhtTokenBytes: 64,
  /** Queries of ours awaiting an answer, per process: more are refused until some finish. */
  dhtMaxPending: 1024,
  /** Datagrams a single address and port may send per second (burst: twice that). */
  dhtPerSenderRate: 50,
  /** Datagrams all senders together may send per second (burst: twice that). */
  dhtTotalRate: 5_000,
  /** Senders whose rate is tracked at once (the least recently seen is forgotten past it). */
  dhtTrackedSenders: 10_000,
  /** Peers kept per infohash and infohashes kept, from announce_peer; peers expire after 30 min. */
  dhtPeersPerInfoHash: 500,
  dhtMaxInfoHashes: 5_000,
  dhtPeerTtlMs: 30 * 60_000,
  /** Lookups running at once; more wait their turn. */
  dhtMaxLookups: 32,
  /** Queries one lookup may send at most, so a lookup in a small or hostile network ends. */
  dhtLookupMaxQueries: 128,
  /** ut_pex (BEP 11): peers taken from one received message, and messages a peer may send a minute. */
  pexMaxReceivedPeers: 100,
  pexMaxMessagesPerMinute: 6,
  /** Largest ut_pex payload read. */
  pexMessageBytes: 8 * 1024,
} as const;
