import { pieceSpans } from '../metainfo/layout.js';
import type { Metainfo } from '../metainfo/types.js';
import type { BlockRef } from '../picker/picker.js';
import { Bitfield } from '../shared/bitfield.js';
import type { RangeFetch } from '../shared/env.js';
import { describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import type { WebSeedStatus } from '../shared/status.js';
import { zeroPadding } from '../storage/spans.js';
import type { TorrentSession } from './session.js';

/**
 * Blocks asked of a web seed in one go: a piece's worth, up to 1 MiB. Not more than a piece: a lane that took
 * several small pieces at once would hold them all behind one slow request while the other lane idled.
 */
const REQUEST_BLOCKS = 64;
/** Requests in flight to one web seed at once: one waits on the server while the other's bytes arrive. */
const LANES = 2;
/**
 * A request is given up, and its blocks go back to the picker, when it has not finished within this long plus
 * its length at MIN_RATE: a server slower than that is no help.
 */
const REQUEST_TIMEOUT_MS = 30_000;
const MIN_RATE = 16 * 1024;
/** After a failure, the web seed waits this long, doubling with each failure in a row up to the cap. */
const RETRY_FIRST_MS = 2_000;
const RETRY_CAP_MS = 300_000;
/** How often an idle lane looks again for blocks to fetch (nothing asked of it, paused, done). */
const IDLE_MS = 1_000;

/**
 * The URL of file `fileIndex` on a web seed (BEP 19): a single-file torrent's URL is the file itself, or a
 * folder (ending in '/') holding it by the torrent's name; a multi-file torrent's URL is the folder holding
 * the torrent's folder. Each path component is percent-encoded.
 */
export function webSeedFileUrl(base: string, metainfo: Metainfo, fileIndex: number): string {
  const file = metainfo.files[fileIndex]!;
  if (!metainfo.multiFile) return base.endsWith('/') ? base + encodeURIComponent(metainfo.name) : base;
  const root = base.endsWith('/') ? base : `${base}/`;
  return root + [metainfo.name, ...file.path].map(encodeURIComponent).join('/');
}

/** Consecutive blocks of one piece, fetched as one range of it. */
export interface BlockRun {
  readonly index: number;
  readonly begin: number;
  readonly length: number;
  readonly blocks: readonly BlockRef[];
}

/** `blocks` (as the picker gives them) cut into runs of consecutive blocks within a piece. */
export function blockRuns(blocks: readonly BlockRef[]): BlockRun[] {
  const runs: { index: number; begin: number; length: number; blocks: BlockRef[] }[] = [];
  for (const b of blocks) {
    const last = runs[runs.length - 1];
    if (last && last.index === b.index && last.begin + last.length === b.begin) {
      last.length += b.length;
      last.blocks.push(b);
    } else runs.push({ index: b.index, begin: b.begin, length: b.length, blocks: [b] });
  }
  return runs;
}

/**
 * BEP 19 web seeds: HTTP servers holding the torrent's files. Each one is a source with every piece, known
 * to the picker under its URL, asked for runs of blocks that become HTTP range requests of its files. Its
 * bytes go through the same assembly and hash check as a peer's, and a web seed whose data fails the check
 * is struck and banned as a peer would be. Only a download fetches from them (not the shell, not a seeder).
 */
export class WebSeeding {
  readonly #seeds: WebSeed[] = [];

  constructor(private readonly s: TorrentSession) {}

  start(): void {
    const s = this.s;
    const fetchRange = s.env.fetchRange;
    if (fetchRange === undefined || s.mode !== 'auto') return;
    for (const url of s.metainfo.webSeeds) this.#seeds.push(new WebSeed(s, url, fetchRange));
    s.onStop(() => {
      for (const seed of this.#seeds) seed.stop();
    });
  }

  status(): WebSeedStatus[] {
    return this.#seeds.map((w) => w.status());
  }

  /** Web seeds not banned. */
  get inUse(): number {
    return this.#seeds.filter((w) => w.status().state !== 'banned').length;
  }
}

class WebSeed {
  #downloaded = 0;
  #failures = 0;
  #retryAt = 0;
  #busy = 0;
  #lastError: string | undefined;
  #stopped = false;
  readonly #requests = new Set<AbortController>();

  constructor(
    private readonly s: TorrentSession,
    readonly url: string,
    private readonly fetchRange: RangeFetch,
  ) {
    s.picker.addPeer(url, Bitfield.full(s.pieceCount));
    for (let i = 0; i < LANES; i++) void this.#lane();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const c of this.#requests) c.abort();
    this.s.picker.removePeer(this.url);
  }

  status(): WebSeedStatus {
    const state = this.#banned
      ? 'banned'
      : this.#retryAt > this.s.clock.now()
        ? 'retrying'
        : this.#busy > 0
          ? 'fetching'
          : 'idle';
    return {
      url: this.url,
      state,
      downloaded: this.#downloaded,
      lastError: this.#lastError,
      retryAt: state === 'retrying' ? this.#retryAt : undefined,
    };
  }

  get #banned(): boolean {
    return this.s.verifying.isBanned(this.url);
  }

  async #lane(): Promise<void> {
    const s = this.s;
    while (!this.#stopped && !s.stopped) {
      if (this.#banned) {
        s.events.emit('warning', `web seed ${this.url}: banned (${s.verifying.banned.get(this.url)})`);
        this.stop();
        return;
      }
      const blocks =
        s.paused || s.done || s.mode !== 'auto' || s.clock.now() < this.#retryAt
          ? []
          : s.picker.pick(
              this.url,
              Math.min(REQUEST_BLOCKS, Math.ceil(s.metainfo.pieceLength / LIMITS.blockSize)),
            );
      if (blocks.length === 0) {
        await s.sleep(IDLE_MS);
        continue;
      }
      this.#busy++;
      const left = new Set(blocks);
      try {
        for (const run of blockRuns(blocks)) {
          const data = await this.#fetchRun(run);
          for (const b of run.blocks) {
            left.delete(b);
            const bytes = data.subarray(b.begin - run.begin, b.begin - run.begin + b.length);
            s.requesting.storeBlock(this.url, this.url, b, bytes);
          }
        }
        if (this.#failures > 0) s.events.emit('warning', `web seed ${this.url} answers again`);
        this.#failures = 0;
      } catch (err) {
        if (this.#stopped) return;
        this.#failures++;
        const wait = Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** (this.#failures - 1));
        this.#retryAt = s.clock.now() + wait;
        this.#lastError = describeError(err);
        s.events.emit(
          'warning',
          `web seed ${this.url}: ${this.#lastError}; trying again in ${Math.round(wait / 1000)} s`,
        );
      } finally {
        this.#busy--;
        for (const b of left) s.picker.requestEnded(this.url, b);
      }
    }
  }

  /** The bytes of `run`: a range of each file it crosses, the torrent's padding as zeros. */
  async #fetchRun(run: BlockRun): Promise<Buffer> {
    const m = this.s.metainfo;
    const spans = pieceSpans(m, run.index, run.begin, run.length);
    const out = Buffer.allocUnsafe(run.length);
    zeroPadding(m, out, spans, run.begin);
    for (const span of spans) {
      const url = webSeedFileUrl(this.url, m, span.fileIndex);
      // The process's download limit covers web seeds too: the budget is taken before the bytes are asked for.
      await this.s.downloadBucket.take(span.length);
      if (this.#stopped) throw new Error('stopped');
      const bytes = await this.#get(url, span.fileOffset, span.length);
      bytes.copy(out, span.pieceOffset - run.begin);
      // What came over HTTP: the files' bytes, not the padding between them.
      this.s.down.add(bytes.length);
      this.s.downloaded += bytes.length;
      this.#downloaded += bytes.length;
    }
    return out;
  }

  async #get(url: string, start: number, length: number): Promise<Buffer> {
    const controller = new AbortController();
    this.#requests.add(controller);
    const limit = REQUEST_TIMEOUT_MS + Math.ceil((length / MIN_RATE) * 1000);
    const cancel = this.s.clock.setTimeout(() => controller.abort(), limit);
    try {
      return await this.fetchRange(url, start, length, controller.signal);
    } catch (err) {
      if (controller.signal.aborted && !this.#stopped)
        throw new Error(`${length} bytes not sent in ${Math.round(limit / 1000)} s`, { cause: err });
      throw err;
    } finally {
      cancel();
      this.#requests.delete(controller);
    }
  }
}
