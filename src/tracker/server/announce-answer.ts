/**
 * The bencoded answer to an HTTP announce (BEP 3, BEP 23, BEP 7, and chunkswarm's peer status), from
 * the parsed request and what SwarmLogic gave back. Pure. One place for it, so the tracker
 * (server.ts) and the simulator's tracker (src/sim/tracker.ts) answer alike.
 */
import { LIMITS } from '../../shared/limits.js';
import type { AnnounceRequest } from '../protocol/announce-request.js';
import { encodeAnnounceResponse, type FrameHead } from '../protocol/announce-response.js';
import type { SwarmAnswer } from './swarm-logic.js';

/**
 * Bytes of peers' chunk status in one answer, at most: a chunkswarm client reads answers of up to
 * 1 MiB (RESPONSE_DECODE_LIMITS), and 200 peers with bitfields near the URL budget would pass that.
 */
const STATUS_BUDGET = 768 * 1024;
/** A peer's entry in a status answer besides its bitfield (keys, address, peer id, numbers). */
const STATUS_ENTRY_BYTES = 256;

/** What the tracker says in every answer. */
export interface AnswerSettings {
  /** Seconds between announces asked for. */
  readonly interval: number;
  readonly minInterval?: number | undefined;
  /** Sent as `tracker id`. */
  readonly trackerId?: string | undefined;
}

/**
 * The answer's bytes, behind `head` when given (a transport's framing, in the same buffer). A
 * status answer that would pass STATUS_BUDGET is shortened, and a `warning message` says so, as
 * it says when `numwant` was capped.
 */
export function announceAnswer(
  a: AnnounceRequest,
  r: SwarmAnswer,
  settings: AnswerSettings,
  head?: FrameHead,
): Buffer {
  const { packed, stats } = r;
  let peers = r.peers;
  let shortened = false;
  if (a.wantStatus) {
    let bytes = 0;
    let fit = -1;
    for (let k = 0; k < peers.length && fit < 0; k++) {
      bytes += STATUS_ENTRY_BYTES + (peers[k]!.bitfield?.length ?? 0);
      if (bytes > STATUS_BUDGET) fit = k;
    }
    if (fit >= 0) {
      peers = peers.slice(0, fit);
      shortened = true;
    }
  }
  // Most answers warn of nothing: no list for them.
  let warning: string | undefined;
  if (a.numwantCapped) warning = `numwant capped at ${LIMITS.trackerMaxNumwant}`;
  if (shortened) {
    const why = `peer list shortened to ${peers.length} to keep the answer under 1 MiB`;
    warning = warning === undefined ? why : `${warning}; ${why}`;
  }
  return encodeAnnounceResponse(
    {
      interval: settings.interval,
      minInterval: settings.minInterval,
      complete: stats.complete,
      incomplete: stats.incomplete,
      trackerId: settings.trackerId,
      warning,
      peers,
      packed,
      compact: a.compact,
      includeStatus: a.wantStatus,
      noPeerId: a.noPeerId,
      pieces: stats.pieces,
    },
    head,
  );
}
