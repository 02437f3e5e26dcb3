import { describeError } from '../shared/errors.js';
// The tracker's client and protocol only: '../tracker/index.js' would also load the tracker server (its
// sockets, cluster, metrics), which no peer process needs.
import type { ClientAnnounceParams, TrackerAnswer } from '../tracker/client/index.js';
import { type AnnounceEvent, encodeRatesParam } from '../tracker/protocol/index.js';
import type { TorrentSession } from './session.js';

/** What the session needs of its trackers: the TrackerClient in production, an in-memory tracker in tests. */
export interface Announcer {
  /** Announces to every tier; `onAnswer` hears each tracker's answer as it comes; rejects when none answered. */
  announceEvery(
    params: ClientAnnounceParams,
    onAnswer?: (answer: TrackerAnswer) => void,
  ): Promise<TrackerAnswer>;
}

/** First wait after a failed announce; it doubles with each failure in a row, up to RETRY_CAP_MS. */
export const RETRY_FIRST_MS = 2_000;
export const RETRY_CAP_MS = 300_000;
/** A torrent left without peers asks its trackers again, but not more often than this. */
export const PEERLESS_ASK_MS = 15_000;

/** The tracker's interval as we keep to it, ms: 5 s to an hour, 30 minutes when it gave none. */
function intervalMs(answer: TrackerAnswer): number {
  return Math.max(5, Math.min(answer.interval || 1800, 3600)) * 1000;
}

/** How long to wait after `failures` failed announces in a row: doubling, capped, with ±20% jitter. */
export function retryDelay(failures: number, random: () => number): number {
  const base = Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * The session's side of its trackers: `started` once, then a re-announce at the tracker's interval. A
 * tracker that cannot be reached — down at start, or gone later — is asked again after a few seconds, then
 * after longer and longer waits (a few minutes at most), so a peer started before its tracker registers as
 * soon as the tracker is up. A torrent whose peers are all gone asks again soon rather than at the interval.
 */
export class Announcing {
  /** Announcing is on: `started` was asked for (it may not have been answered yet) and not `stopped`. */
  active = false;
  /** The last announce was answered. */
  reachable = false;
  last: TrackerAnswer | undefined;
  /** Failed announces in a row. */
  failures = 0;
  lastError: string | undefined;
  /** When the next announce is due (ms on the session's clock); undefined when none is planned. */
  nextAt: number | undefined;
  #sentStarted = false;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #inFlight = false;
  #lastFinderAsk = Number.NEGATIVE_INFINITY;
  /** A seeder's asks in a row while it had nobody to serve (see tick). */
  #idleAsks = 0;
  #cancelTimer: (() => void) | undefined;

  constructor(
    private readonly s: TorrentSession,
    private readonly announcer: Announcer,
  ) {}

  /**
   * One announce to every tier at once, peers merged from all that answer; with `status` the reply lists
   * every peer's chunks (chunkswarm trackers). Peers are dialled as each tracker answers: a silent one (a
   * UDP tracker times out after 15 s) must not hold up the others' peers.
   */
  async announce(event?: AnnounceEvent, opts: { status?: boolean } = {}): Promise<TrackerAnswer> {
    const s = this.s;
    const extras: Record<string, string> = { cs_pieces: String(s.pieceCount), cs_name: s.metainfo.name };
    const bits = Buffer.from(s.have.bytes).toString('base64url');
    // Keep the URL under the tracker's 8 KiB request cap: large torrents send only the count.
    if (bits.length < 6000) extras.cs_bitfield = bits;
    else extras.cs_have = String(s.have.count);
    if (opts.status) extras.cs_status = '1';
    // Who we trade with and how fast, for the tracker page's swarm graph (chunkswarm trackers; others ignore it).
    const rates = encodeRatesParam(
      [...s.peers.values()].map((p) => ({
        ip: p.ip,
        port: p.listenPort ?? p.remotePort,
        down: p.down.current,
        up: p.up.current,
      })),
    );
    if (rates) extras.cs_rates = rates;
    if (s.announceIp) extras.ip = s.announceIp;
    const early = (answer: TrackerAnswer): void => {
      if (event !== 'stopped' && s.mode !== 'manual' && !s.stopped) s.dialling.dial(answer.peers);
    };
    this.#lastAttemptAt = s.clock.now();
    this.#inFlight = true;
    try {
      const result = await this.announcer.announceEvery(
        {
          event,
          uploaded: s.uploaded,
          downloaded: s.downloaded,
          left: s.left,
          numwant: event === 'stopped' ? 0 : 50,
          compact: !opts.status,
          extras,
        },
        early,
      );
      this.last = result;
      this.reachable = true;
      this.failures = 0;
      this.lastError = undefined;
      if (event !== 'stopped') s.knownPeers = result.peers;
      s.events.emit('announce', result);
      return result;
    } catch (err) {
      this.reachable = false;
      this.failures++;
      this.lastError = describeError(err);
      throw err;
    } finally {
      this.#inFlight = false;
    }
  }

  /**
   * Announce `started` and keep announcing: at the tracker's interval once it answers, with backoff while it
   * does not. Rejects when this first announce fails, but the retries go on all the same.
   */
  async start(opts: { status?: boolean } = {}): Promise<TrackerAnswer> {
    this.active = true;
    return this.#announceAndPlan(opts);
  }

  stop(): void {
    this.active = false;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.nextAt = undefined;
  }

  /** Announce `stopped` if `started` went out; ends the schedule. */
  async leave(): Promise<void> {
    this.stop();
    if (this.#sentStarted) {
      this.#sentStarted = false;
      await this.announce('stopped').catch(() => {});
    }
  }

  /**
   * Once a second: a torrent still downloading with no useful peer left asks its trackers (and the DHT) now
   * rather than later. A seeder with nobody to serve (`hasUsefulPeer`: a peer interested in it), whose
   * trackers last said leechers remain (or did not say), asks them too, each time waiting twice as long as the time before
   * (from PEERLESS_ASK_MS up to the interval), so the trackers of a swarm nobody downloads from any more
   * hear from it at the interval again.
   */
  tick(hasUsefulPeer: boolean): void {
    const s = this.s;
    if (s.done) {
      this.#askWhileNobodyToServe(hasUsefulPeer);
      return;
    }
    if (s.mode !== 'auto' || s.paused || s.dialling.pending > 0 || hasUsefulPeer) return;
    if (s.clock.now() - this.#lastFinderAsk >= PEERLESS_ASK_MS) {
      this.#lastFinderAsk = s.clock.now();
      for (const f of s.peerFinders) f.lookupNow();
    }
    if (!this.active || this.#inFlight) return;
    this.#askSoon(PEERLESS_ASK_MS);
  }

  /**
   * Asks the trackers now, unless the last attempt was less than `wait` ago (or the tracker's minimum
   * interval), or an announce is planned within PEERLESS_ASK_MS anyway. True when it asked.
   */
  #askSoon(wait: number): boolean {
    const now = this.s.clock.now();
    if (now - this.#lastAttemptAt < Math.max(wait, (this.last?.minInterval ?? 0) * 1000)) return false;
    if (this.nextAt !== undefined && this.nextAt <= now + PEERLESS_ASK_MS) return false;
    this.#plan(0);
    return true;
  }

  #askWhileNobodyToServe(serving: boolean): void {
    const s = this.s;
    if (serving) {
      this.#idleAsks = 0;
      return;
    }
    if (s.mode === 'manual' || s.paused || !this.active || this.#inFlight || s.dialling.pending > 0) return;
    // `incomplete` is optional (BEP 3 lists it, not every tracker sends it): unsaid, leechers may remain.
    if (!this.last || this.last.incomplete === 0) return;
    if (this.#askSoon(Math.min(intervalMs(this.last), PEERLESS_ASK_MS * 2 ** this.#idleAsks)))
      this.#idleAsks++;
  }

  /** The event this announce carries: `started` until a tracker heard it. */
  async #announceAndPlan(opts: { status?: boolean } = {}): Promise<TrackerAnswer> {
    const event = this.#sentStarted ? undefined : 'started';
    try {
      const result = await this.announce(event, opts);
      this.#sentStarted = true;
      this.#plan(intervalMs(result));
      return result;
    } catch (err) {
      const wait = retryDelay(this.failures, () => this.s.random.next());
      this.s.events.emit('announce-failed', describeError(err), wait);
      this.#plan(wait);
      throw err;
    }
  }

  #plan(ms: number): void {
    this.#cancelTimer?.();
    if (!this.active || this.s.stopped) return;
    this.nextAt = this.s.clock.now() + ms;
    this.#cancelTimer = this.s.clock.setTimeout(() => {
      this.#cancelTimer = undefined;
      this.nextAt = undefined;
      if (this.active && !this.s.stopped) this.#announceAndPlan().catch(() => {});
    }, ms);
  }
}
