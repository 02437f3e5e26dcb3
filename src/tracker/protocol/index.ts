export {
  type AnnounceEvent,
  type AnnounceRequest,
  type ParseAnnounceOptions,
  parseAnnounceQuery,
} from './announce-request.js';
export {
  type AnnounceResponse,
  type AnnounceResult,
  compactEntry,
  decodeResponse,
  encodeAnnounceResponse,
  encodeFailure,
  isSeeder,
  type PeerStatus,
  parseAnnounceResponse,
  RESPONSE_DECODE_LIMITS,
  type ResponsePeer,
  type TrackerPeer,
} from './announce-response.js';
export {
  type HeadDecision,
  MALFORMED_REQUEST,
  RequestHeadReader,
  tooLargeReason,
} from './http-head.js';
export { formatIp, normalizeIp, parseIp } from './ip.js';
export { decodeComponent, encodeBytes } from './query.js';
export {
  buildScrapeUrl,
  encodeScrapeResponse,
  parseScrapeQuery,
  parseScrapeResponse,
  type ScrapeFile,
  type ScrapeStats,
} from './scrape.js';
export { type AnnounceParams, buildAnnounceUrl, type ChunkStatus, MAX_ANNOUNCE_URL_LENGTH } from './url.js';
