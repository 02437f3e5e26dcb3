/** The tracker: protocol (pure; HTTP and BEP 15 UDP), server (both transports over one swarm store) and client (BEP 12 tiers, http and udp). */
export * from './client/index.js';
export * from './protocol/index.js';
export * from './server/index.js';
