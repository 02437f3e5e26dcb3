export {
  type ExtraHandler,
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
