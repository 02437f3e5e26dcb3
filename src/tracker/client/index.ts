export {
  type ClientAnnounceParams,
  isSupportedTracker,
  mergeAnswers,
  type TierOutcome,
  type TrackerAnswer,
  TrackerClient,
  type TrackerClientOptions,
  type TrackerScrape,
} from './client.js';
export { DEFAULT_HTTP_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES, type HttpGetOptions, httpGet } from './http.js';
export {
  DEFAULT_UDP_TRIES,
  type UdpAnnounceParams,
  type UdpTrackerOptions,
  udpAnnounce,
  udpScrape,
} from './udp.js';
