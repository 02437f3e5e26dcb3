/** The dashboards: the tracker's page and the peer page, with the guard in front of both. */
export { type Route, WebApp, type WebAppOptions } from './app.js';
export { defaultAssetsDir, type PageKind, renderPage, StaticAssets } from './assets.js';
export {
  type ConsoleRunner,
  MAX_CONSOLE_LINE,
  READ_ONLY_COMMANDS,
  readOnlyConsole,
  ShellTap,
} from './console.js';
export {
  type GuardOptions,
  type GuardVerdict,
  hostName,
  isLoopbackHost,
  newToken,
  readCookie,
  TOKEN_HEADER,
  WebGuard,
} from './guard.js';
export {
  contentDisposition,
  escapeHtml,
  readBody,
  readJson,
  SECURITY_HEADERS,
  sendError,
  sendJson,
} from './http.js';
export {
  chunkMap,
  MAX_MAP_CELLS,
  PeerWeb,
  type PeerWebHandle,
  type PeerWebOptions,
  RATE_HISTORY,
  startPeerWeb,
} from './peer-web.js';
export { coalesce, frame, MAX_STREAMS, SseHub } from './sse.js';
export {
  contentTypeFor,
  parseRange,
  type RangeAnswer,
  STREAM_STEP,
  type StreamHandlerOptions,
  type StreamServerHandle,
  type StreamServerOptions,
  type StreamSource,
  startStreamServer,
  streamHandler,
  type TorrentFileSourceOptions,
  torrentFileSource,
} from './stream.js';
export { MAX_GRAPH_EDGES, MAX_GRAPH_NODES, STRIP_CELLS, swarmGraph } from './swarm-graph.js';
export {
  availability,
  MAX_CELLS,
  MAX_PEER_ROWS,
  MAX_REGISTERED,
  MAX_SWARMS,
  TrackerWeb,
  type TrackerWebOptions,
} from './tracker-web.js';
export type * from './types.js';
