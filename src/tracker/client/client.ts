import { randomBytes, randomInt } from 'node:crypto';
import { ChunkswarmError, describeError, isChunkswarmError } from '../../shared/errors.js';
import type { AnnounceEvent } from '../protocol/announce-request.js';
import {
  type AnnounceResult,
  parseAnnounceResponse,
  type TrackerPeer,
} from '../protocol/announce-response.js';
import { buildScrapeUrl, parseScrapeResponse, type ScrapeStats } from '../protocol/scrape.js';
import { buildAnnounceUrl, type ChunkStatus } from '../protocol/url.js';
import { DEFAULT_HTTP_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES, httpGet } from './http.js';
import { DEFAULT_UDP_TRIES, type UdpTrackerOptions, udpAnnounce, udpScrape } from './udp.js';

export interface TrackerClientOptions {
  /** BEP 12 tiers, first tier first; a torrent with only `announce` has one tier of one URL. */
  readonly tiers: readonly (readonly string[])[];
  readonly infoHash: Buffer;
  readonly peerId: Buffer;
  /** The port we accept peer connections on. */
  readonly port: number;
  /** Per tracker request (default 15 s); for udp:// the whole exchange, retransmits included. */
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
  /** Packets sent for each step of a udp:// exchange before it gives up (default 3). */
  readonly udpTries?: number;
  /** First wait for a udp:// reply, doubled on each retransmit (default: `udpTries` fit into `timeoutMs`). */
  readonly udpTryTimeoutMs?: number;
  /** Shuffle each tier once, as BEP 12 asks (default true); false keeps the given order. */
  readonly shuffle?: boolean;
  /** The address to announce (behind NAT); only trackers that trust `ip` use it. */
  readonly announceIp?: string;
}

export interface ClientAnnounceParams {
  readonly event?: AnnounceEvent | undefined;
  readonly uploaded: number;
  readonly downloaded: number;
  readonly left: number;
  readonly numwant?: number | undefined;
  readonly compact?: boolean | undefined;
  /** This peer's chunk status, for a chunkswarm tracker (other trackers ignore it). */
  readonly chunks?: ChunkStatus | undefined;
  readonly extras?: Readonly<Record<string, string>> | undefined;
}

export type TrackerAnswer = AnnounceResult & { readonly url: string };
export type TrackerScrape = ScrapeStats & { readonly url: string };

/** One tier's outcome in announceAll. */
export type TierOutcome =
  | { readonly status: 'fulfilled'; readonly tier: number; readonly value: TrackerAnswer }
  /** `reason`: the tier's telling error (a tracker's refusal, else the last failure), as it came. */
  | { readonly status: 'rejected'; readonly tier: number; readonly reason: ChunkswarmError }
  /** The tier has no tracker we can talk to (say wss:// only). */
  | { readonly status: 'skipped'; readonly tier: number; readonly warning: string };

/**
 * Announces to a torrent's trackers following BEP 12: tiers in order, each tier's URLs in an
 * order shuffled once, and a tracker that answers moves to the front of its tier so it is asked
 * first next time. Keeps the `tracker id` each tracker gave and sends it back (BEP 3).
 * Speaks http, https and udp (BEP 15); other schemes (wss://) are skipped. Over udp there is no
 * `tracker id`, `ip` or chunkswarm chunk status: those are left out.
 */
export class TrackerClient {
  readonly #tiers: string[][];
  readonly #infoHash: Buffer;
  readonly #peerId: Buffer;
  readonly #port: number;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #announceIp: string | undefined;
  readonly #udpTries: number;
  readonly #udpTryTimeoutMs: number | undefined;
  /** Sent as `key` so a tracker can recognise us if our address changes (BEP 7 / common practice). */
  readonly #key = randomBytes(4).toString('hex').toUpperCase();
  readonly #trackerIds = new Map<string, string>();

  constructor(opts: TrackerClientOptions) {
    if (opts.infoHash.length !== 20) throw new ChunkswarmError('EUSAGE', 'infohash must be 20 bytes');
    if (opts.peerId.length !== 20) throw new ChunkswarmError('EUSAGE', 'peer id must be 20 bytes');
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
      throw new ChunkswarmError('EUSAGE', `port must be 1..65535, not ${opts.port}`);
    }
    this.#tiers = opts.tiers.map((tier) => [...new Set(tier)]).filter((tier) => tier.length > 0);
    if (opts.shuffle !== false) for (const tier of this.#tiers) shuffle(tier);
    this.#infoHash = Buffer.from(opts.infoHash);
    this.#peerId = Buffer.from(opts.peerId);
    this.#port = opts.port;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    this.#maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#announceIp = opts.announceIp;
    this.#udpTries = opts.udpTries ?? DEFAULT_UDP_TRIES;
    this.#udpTryTimeoutMs = opts.udpTryTimeoutMs;
  }

  /** The tiers in their current order (after shuffling and promotions). */
  get tiers(): readonly (readonly string[])[] {
    return this.#tiers.map((t) => [...t]);
  }

  /**
   * Announces to the first tracker that answers, tier by tier. A tracker that answers with a
   * `failure reason` counts as not answering for the search; when no tracker gives peers, the
   * last failure reason is thrown (ETRACKER_FAILURE) if there was one, else ETRACKER_UNREACHABLE.
   */
  async announce(params: ClientAnnounceParams): Promise<TrackerAnswer> {
    const errors: ChunkswarmError[] = [];
    for (const tier of this.#tiers) {
      try {
        return await this.#announceTier(tier, params, errors);
      } catch {
        // Recorded in errors; on to the next tier.
      }
    }
    throw summarise(errors, this.#tiers);
  }

  /**
   * Announces to every tier at once (each tier tried as in announce); one outcome per tier, and each
   * answer to `onAnswer` as soon as it arrives.
   */
  async announceAll(
    params: ClientAnnounceParams,
    onAnswer?: (answer: TrackerAnswer) => void,
  ): Promise<TierOutcome[]> {
    return Promise.all(
      this.#tiers.map(async (tier, index): Promise<TierOutcome> => {
        if (!tier.some(isSupportedTracker))
          return { status: 'skipped', tier: index, warning: unsupported(tier) };
        const errors: ChunkswarmError[] = [];
        try {
          const value = await this.#announceTier(tier, params, errors);
          onAnswer?.(value);
          return { status: 'fulfilled', tier: index, value };
        } catch {
          return { status: 'rejected', tier: index, reason: tellingError(errors, [tier]) };
        }
      }),
    );
  }

  /**
   * Announces to every tier at once, as torrent clients do by default so that peers known to any of the
   * torrent's trackers are found, and puts the answers together (see `mergeAnswers`). Throws, as
   * `announce` does, when no tier answered. `onAnswer` hears each tier's answer as it comes, so a
   * caller need not wait for a silent tracker (a UDP one takes the whole timeout) to use the others.
   */
  async announceEvery(
    params: ClientAnnounceParams,
    onAnswer?: (answer: TrackerAnswer) => void,
  ): Promise<TrackerAnswer> {
    return mergeAnswers(await this.announceAll(params, onAnswer), this.#tiers);
  }

  /** Scrapes our swarm (BEP 48) on the first tracker, in tier order, that supports it and answers. */
  async scrape(): Promise<TrackerScrape> {
    const errors: ChunkswarmError[] = [];
    const hex = this.#infoHash.toString('hex');
    for (const tier of this.#tiers) {
      for (const url of tier) {
        if (isUdp(url)) {
          try {
            // Every UDP tracker scrapes (BEP 15); no URL convention to meet.
            const [stats] = await udpScrape(url, [this.#infoHash], this.#udpOptions());
            return { ...stats!, url };
          } catch (err) {
            errors.push(asError(err, url));
          }
          continue;
        }
        if (!isHttp(url)) continue;
        const scrapeUrl = buildScrapeUrl(url, [this.#infoHash]);
        if (scrapeUrl === undefined) continue;
        try {
          const files = parseScrapeResponse(await this.#get(scrapeUrl));
          // A tracker that has never seen the swarm may leave it out: nobody is in it.
          const stats = files.get(hex) ?? { complete: 0, incomplete: 0, downloaded: 0 };
          return { ...stats, url };
        } catch (err) {
          errors.push(asError(err, url));
        }
      }
    }
    if (errors.length === 0) {
      throw new ChunkswarmError('ETRACKER_UNREACHABLE', 'none of the trackers supports scrape');
    }
    throw summarise(errors, this.#tiers);
  }

  async #announceTier(
    tier: string[],
    params: ClientAnnounceParams,
    errors: ChunkswarmError[],
  ): Promise<TrackerAnswer> {
    for (const url of [...tier]) {
      if (!isSupportedTracker(url)) continue;
      try {
        const result = isUdp(url)
          ? await this.#udpAnnounce(url, params)
          : parseAnnounceResponse(await this.#get(this.#announceUrl(url, params)));
        if (result.trackerId !== undefined) this.#trackerIds.set(url, result.trackerId);
        // BEP 12: the tracker that answered goes to the front of its tier.
        const at = tier.indexOf(url);
        if (at > 0) {
          tier.splice(at, 1);
          tier.unshift(url);
        }
        return { ...result, url };
      } catch (err) {
        errors.push(asError(err, url));
      }
    }
    throw errors.at(-1) ?? new ChunkswarmError('ETRACKER_UNREACHABLE', unsupported(tier));
  }

  #announceUrl(url: string, p: ClientAnnounceParams): string {
    return buildAnnounceUrl(url, {
      ...this.#announceFields(p),
      compact: p.compact,
      key: this.#key,
      trackerId: this.#trackerIds.get(url),
      ip: this.#announceIp,
      chunks: p.chunks,
      extras: p.extras,
    });
  }

  /** What every announce carries, over http or udp. */
  #announceFields(p: ClientAnnounceParams) {
    return {
      infoHash: this.#infoHash,
      peerId: this.#peerId,
      port: this.#port,
      uploaded: p.uploaded,
      downloaded: p.downloaded,
      left: p.left,
      event: p.event,
      numwant: p.numwant,
    };
  }

  #get(url: string): Promise<Buffer> {
    return httpGet(url, { timeoutMs: this.#timeoutMs, maxBytes: this.#maxBytes });
  }

  #udpAnnounce(url: string, p: ClientAnnounceParams): Promise<AnnounceResult> {
    return udpAnnounce(
      url,
      // The same key as over http, so a tracker on both protocols sees one peer.
      { ...this.#announceFields(p), key: Number.parseInt(this.#key, 16) },
      this.#udpOptions(),
    );
  }

  #udpOptions(): UdpTrackerOptions {
    return { timeoutMs: this.#timeoutMs, tries: this.#udpTries, tryTimeoutMs: this.#udpTryTimeoutMs };
  }
}

/**
 * One answer from several tiers' answers: every peer once (by address, the first tier's entry kept, with
 * its chunk status if it had one), the URL of the first tier that answered, the largest seeder and
 * leecher counts any tracker gave (each sees its part of the swarm; a tracker that knows no leecher must
 * not hide another's), each tier's warning, and an interval as short as the most eager tracker asks but
 * never under any tracker's `min interval`. Throws the error `announce` would when no tier answered.
 */
export function mergeAnswers(
  outcomes: readonly TierOutcome[],
  tiers: readonly (readonly string[])[],
): TrackerAnswer {
  const answers = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const first = answers[0];
  if (first === undefined) {
    throw summarise(
      outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : [])),
      tiers,
    );
  }
  if (answers.length === 1) return first;
  const peers: TrackerPeer[] = [];
  const seen = new Set<string>();
  for (const a of answers) {
    for (const p of a.peers) {
      const key = `${p.ip}|${p.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      peers.push(p);
    }
  }
  const interval = Math.max(
    Math.min(...answers.map((a) => a.interval)),
    ...answers.map((a) => a.minInterval ?? 0),
  );
  const warnings = answers.flatMap((a) => (a.warning === undefined ? [] : [`${a.url}: ${a.warning}`]));
  return {
    ...first,
    complete: largest(answers.map((a) => a.complete)),
    incomplete: largest(answers.map((a) => a.incomplete)),
    interval,
    peers,
    warning: warnings.length > 0 ? warnings.join('; ') : undefined,
  };
}

/** The largest of the counts that were given; undefined when no tracker gave one. */
function largest(counts: readonly (number | undefined)[]): number | undefined {
  const given = counts.filter((c): c is number => c !== undefined);
  return given.length > 0 ? Math.max(...given) : undefined;
}

function isHttp(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

function isUdp(url: string): boolean {
  return /^udp:\/\//i.test(url);
}

/** A tracker URL chunkswarm speaks to: HTTP(S) (BEP 3) or UDP (BEP 15). */
export function isSupportedTracker(url: string): boolean {
  return isHttp(url) || isUdp(url);
}

function unsupported(tier: readonly string[]): string {
  return `no tracker chunkswarm can speak to (http, https or udp) in: ${tier.join(', ')}`;
}

function asError(err: unknown, url: string): ChunkswarmError {
  if (isChunkswarmError(err)) return err;
  return new ChunkswarmError('ETRACKER_UNREACHABLE', `${url}: ${describeError(err)}`, { cause: err });
}

/** The error that speaks for failed tries: a tracker's own refusal beats a network error, else the last one. */
function tellingError(
  errors: readonly ChunkswarmError[],
  tiers: readonly (readonly string[])[],
): ChunkswarmError {
  for (let i = errors.length - 1; i >= 0; i--) if (errors[i]!.code === 'ETRACKER_FAILURE') return errors[i]!;
  const last = errors.at(-1);
  if (last) return last;
  const all = tiers.flat();
  return new ChunkswarmError(
    'ETRACKER_UNREACHABLE',
    all.length ? unsupported(all) : 'the torrent has no tracker',
  );
}

/**
 * The error to report when no tracker answered. Said once, for all tiers together: a tier's own outcome
 * carries its telling error as it is (see announceAll), so merging tiers does not say it again.
 */
function summarise(
  errors: readonly ChunkswarmError[],
  tiers: readonly (readonly string[])[],
): ChunkswarmError {
  const telling = tellingError(errors, tiers);
  // One tracker's error already says which tracker and why.
  if (telling.code === 'ETRACKER_FAILURE' || errors.length === 0 || tiers.flat().length === 1) return telling;
  return new ChunkswarmError('ETRACKER_UNREACHABLE', `no tracker answered (last: ${telling.message})`, {
    cause: telling,
  });
}

/** Fisher-Yates; crypto's randomInt keeps it unbiased without caring about Math.random's quality. */
function shuffle(list: string[]): void {
  for (let i = list.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
}
