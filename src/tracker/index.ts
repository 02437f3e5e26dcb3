/** The HTTP tracker: protocol (pure), server (node:http + a swarm store) and client (BEP 12 tiers). */
export * from './client/index.js';
export * from './protocol/index.js';
export * from './server/index.js';
