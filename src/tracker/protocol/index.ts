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
  type FrameHead,
  isSeeder,
  type PeerStatus,
  parseAnnounceResponse,
  RESPONSE_DECODE_LIMITS,
  type ResponsePeer,
  type TrackerPeer,
  withHead,
} from './announce-response.js';
export {
  type HeadDecision,
  MALFORMED_REQUEST,
  RequestHeadReader,
  tooLargeReason,
} from './http-head.js';
export { formatIp, normalizeIp, parseIp } from './ip.js';
export { decodeComponent, encodeBytes } from './query.js';
export { decodeRatesParam, encodeRatesParam, MAX_RATES_PARAM, type PeerRate } from './rates.js';
export {
  buildScrapeUrl,
  encodeScrapeResponse,
  parseScrapeQuery,
  parseScrapeResponse,
  type ScrapeFile,
  type ScrapeStats,
} from './scrape.js';
export {
  decodeUdpAnnounceFields,
  decodeUdpAnnounceRequest,
  decodeUdpAnnounceResponse,
  decodeUdpConnectRequest,
  decodeUdpConnectResponse,
  decodeUdpRequestHeader,
  decodeUdpScrapeRequest,
  decodeUdpScrapeResponse,
  encodeUdpAnnounceRequest,
  encodeUdpAnnounceResponse,
  encodeUdpConnectRequest,
  encodeUdpConnectResponse,
  encodeUdpErrorResponse,
  encodeUdpScrapeRequest,
  encodeUdpScrapeResponse,
  UDP_ACTION,
  UDP_DEFAULT_MAX_PEERS,
  UDP_EVENT,
  UDP_MAX_ERROR_BYTES,
  UDP_MAX_SCRAPE_HASHES,
  UDP_MAX_URL_DATA_BYTES,
  UDP_PROTOCOL_ID,
  type UdpAction,
  type UdpAnnounceDecodeOptions,
  type UdpAnnounceReply,
  type UdpAnnounceRequest,
  type UdpAnnounceRequestIn,
  type UdpRequestDecodeOptions,
  type UdpRequestHeader,
  type UdpScrapeEntry,
  type UdpScrapeRequestIn,
  udpTransactionId,
} from './udp.js';
export { type AnnounceParams, buildAnnounceUrl, type ChunkStatus, MAX_ANNOUNCE_URL_LENGTH } from './url.js';
