/**
 * The simulator's tracker: the real announce path — the query a TrackerClient would send, parsed by the
 * tracker's own parser, recorded and answered by SwarmLogic over a MemorySwarmStore, bencoded and read back
 * by the client's parser — with no HTTP and no socket in between, and a latency on the virtual clock. It can
 * be made unreachable and reachable again, to exercise the session's retry and backoff.
 */
import type { Announcer } from '../session/announcing.js';
import type { Clock } from '../shared/clock.js';
import { seededRandom } from '../shared/env.js';
import { ChunkswarmError } from '../shared/errors.js';
import {
  announceAnswer,
  type ClientAnnounceParams,
  MemorySwarmStore,
  parseAnnounceQuery,
  parseAnnounceResponse,
  SwarmLogic,
  type TrackerAnswer,
} from '../tracker/index.js';
import { buildAnnounceUrl } from '../tracker/protocol/url.js';

export interface SimTrackerOptions {
  /** Seconds between regular announces (default 1800, as most trackers say). */
  readonly interval?: number;
  /** Seconds a client should wait between announces at least (default interval / 2, as chunkswarm's tracker says). */
  readonly minInterval?: number;
  /** Round trip of an announce, ms (default 50). */
  readonly latencyMs?: number;
  /** Seed of the store's peer selection (default 1). */
  readonly seed?: number;
}

const URL = 'http://tracker.sim/announce';

export class SimTracker {
  readonly store: MemorySwarmStore;
  readonly clock: Clock;
  readonly #logic: SwarmLogic;
  readonly #interval: number;
  readonly #minInterval: number;
  readonly #latency: number;
  reachable = true;
  announces = 0;
  /** Announces that found the tracker unreachable. */
  failures = 0;

  constructor(clock: Clock, opts: SimTrackerOptions = {}) {
    this.clock = clock;
    // Seeded: which peers an announce hands out must not differ from one run of a scenario to the next.
    this.store = new MemorySwarmStore({ random: seededRandom(opts.seed ?? 1).next });
    this.#logic = new SwarmLogic({ store: this.store, clock, emit: undefined });
    this.#interval = opts.interval ?? 1800;
    this.#minInterval = opts.minInterval ?? Math.max(1, Math.floor(this.#interval / 2));
    this.#latency = opts.latencyMs ?? 50;
  }

  /** The session's Announcer for the peer at `ip:port` with this peer id and torrent. */
  announcerFor(peer: { ip: string; port: number; peerId: Buffer; infoHash: Buffer }): Announcer {
    return {
      announceEvery: (params, onAnswer) => this.#announce(peer, params, onAnswer),
    };
  }

  #announce(
    peer: { ip: string; port: number; peerId: Buffer; infoHash: Buffer },
    params: ClientAnnounceParams,
    onAnswer?: (answer: TrackerAnswer) => void,
  ): Promise<TrackerAnswer> {
    return new Promise((resolve, reject) => {
      // Whether it is up is decided when the request would reach it.
      this.clock.setTimeout(() => {
        if (!this.reachable) {
          this.failures++;
          // A tracker that is down refuses at once (a closed port) after the round trip.
          this.clock.setTimeout(
            () => reject(new ChunkswarmError('ETRACKER_UNREACHABLE', `${URL}: connection refused`)),
            this.#latency / 2,
          );
          return;
        }
        this.announces++;
        let body: Buffer;
        try {
          body = this.#answer(peer, params);
        } catch (err) {
          this.clock.setTimeout(() => reject(err), this.#latency / 2);
          return;
        }
        this.clock.setTimeout(() => {
          try {
            const answer: TrackerAnswer = { ...parseAnnounceResponse(body), url: URL };
            onAnswer?.(answer);
            resolve(answer);
          } catch (err) {
            reject(err);
          }
        }, this.#latency / 2);
      }, this.#latency / 2);
    });
  }

  #answer(
    peer: { ip: string; port: number; peerId: Buffer; infoHash: Buffer },
    params: ClientAnnounceParams,
  ): Buffer {
    const url = buildAnnounceUrl(URL, {
      infoHash: peer.infoHash,
      peerId: peer.peerId,
      port: peer.port,
      uploaded: params.uploaded,
      downloaded: params.downloaded,
      left: params.left,
      event: params.event,
      numwant: params.numwant,
      compact: params.compact,
      chunks: params.chunks,
      extras: params.extras,
    });
    const a = parseAnnounceQuery(url.slice(url.indexOf('?') + 1), peer.ip);
    const answer = this.#logic.announce(a, a.compact && !a.wantStatus);
    // SwarmLogic returns a promise only over an async store (Redis); the memory store answers in the call.
    if (answer instanceof Promise) throw new Error('SimTracker: the memory store answered with a promise');
    return announceAnswer(a, answer, { interval: this.#interval, minInterval: this.#minInterval });
  }
}
