export {
  type ExtraHandler,
  type SocketLayer,
  startTracker,
  type TrackerEvent,
  type TrackerHandle,
  type TrackerOptions,
} from './server.js';
export {
  MemorySwarmStore,
  type MemorySwarmStoreOptions,
  type PeerRecord,
  peerKey,
  type SwarmStats,
  type SwarmStore,
} from './store.js';
