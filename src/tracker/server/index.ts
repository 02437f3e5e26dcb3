export { type AnswerSettings, announceAnswer } from './announce-answer.js';
// SqliteSwarmStore lives in ./sqlite-store.js and is not re-exported here: importing it loads
// better-sqlite3's native module, which only `chunkswarm tracker --db` needs. RedisSwarmStore
// (./redis-store.js) is loaded the same way, by `--redis` only.
export {
  type MetricsSnapshot,
  type Outcome,
  renderMetrics,
  storeKind,
  sumSnapshots,
  TrackerMetrics,
  type Transport,
} from './metrics.js';
export {
  type ExtraHandler,
  type SocketLayer,
  startTracker,
  type TrackerEvent,
  type TrackerHandle,
  type TrackerOptions,
} from './server.js';
export {
  type AnySwarmStore,
  type AsyncSwarmStore,
  type CompactPeers,
  DEFAULT_MAX_PEERS_PER_IP,
  isAsyncStore,
  MemorySwarmStore,
  type MemorySwarmStoreOptions,
  type PeerRecord,
  peerKey,
  type SavedPeer,
  type SavedSwarm,
  STORE_UNAVAILABLE,
  type StoreExchange,
  type StoreTotals,
  type SwarmChange,
  type SwarmJournal,
  type SwarmStats,
  type SwarmStore,
} from './store.js';
export {
  type SwarmAnnounce,
  type SwarmAnswer,
  SwarmLogic,
  type SwarmLogicOptions,
} from './swarm-logic.js';
export {
  CONNECTION_ID_WINDOW_MS,
  ConnectionIds,
  listenUdp,
  type UdpListener,
  type UdpServeOptions,
} from './udp.js';
