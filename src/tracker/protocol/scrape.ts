import { type BValue, encode, isDict } from '../../codec/index.js';
import { ChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { decodeResponse } from './announce-response.js';
import { decodeComponent, encodeBytes, forEachParam } from './query.js';

/** One swarm's numbers in a scrape (BEP 48). */
export interface ScrapeStats {
  /** Seeders. */
  readonly complete: number;
  /** Leechers. */
  readonly incomplete: number;
  /** Completed downloads the tracker has counted. */
  readonly downloaded: number;
  readonly name?: string | undefined;
}

export interface ScrapeFile extends ScrapeStats {
  readonly infoHash: Buffer;
}

/**
 * The infohashes of a scrape request (BEP 48: `info_hash` repeated). An empty list asks for every
 * swarm. More than LIMITS.trackerMaxScrapeHashes is refused, so one request cannot make the
 * tracker walk its whole store. Repeats of one hash count once.
 */
export function parseScrapeQuery(
  rawQuery: string,
  maxHashes: number = LIMITS.trackerMaxScrapeHashes,
): Buffer[] {
  const hashes: Buffer[] = [];
  const seen = new Set<string>();
  let error: string | undefined;
  const keysOk = forEachParam(rawQuery, (key, start, end) => {
    if (key !== 'info_hash' || error !== undefined) return;
    const bytes = decodeComponent(rawQuery, start, end, false);
    if (bytes === undefined) error = 'invalid percent-encoding in info_hash';
    else if (bytes.length !== 20) error = 'info_hash must be 20 bytes';
    else {
      const hex = bytes.toString('hex');
      if (seen.has(hex)) return;
      if (hashes.length === maxHashes) error = `too many info_hash values (at most ${maxHashes} per scrape)`;
      else {
        seen.add(hex);
        hashes.push(Buffer.from(bytes));
      }
    }
  });
  if (!keysOk) error ??= 'invalid percent-encoding in a parameter name';
  if (error !== undefined) throw new ChunkswarmError('ETRACKER_REQUEST', error);
  return hashes;
}

/** `{ files: { <20 raw bytes>: { complete, downloaded, incomplete, name? } } }` (BEP 48). */
export function encodeScrapeResponse(files: readonly ScrapeFile[]): Buffer {
  const byHash = new Map<
    string,
    { complete: number; downloaded: number; incomplete: number; name?: string }
  >();
  for (const f of files) {
    const entry: { complete: number; downloaded: number; incomplete: number; name?: string } = {
      complete: f.complete,
      downloaded: f.downloaded,
      incomplete: f.incomplete,
    };
    if (f.name !== undefined) entry.name = f.name;
    // Map keys are taken as latin1 by the encoder: one char per raw infohash byte.
    byHash.set(f.infoHash.toString('latin1'), entry);
  }
  return encode({ files: byHash });
}

/**
 * The scrape URL for an announce URL, by BEP 48's rule: the last path segment must start with
 * `announce`, which becomes `scrape`. Undefined when the tracker does not follow the convention
 * (it has no scrape then). `hashes` are added as repeated `info_hash` parameters.
 */
export function buildScrapeUrl(announceUrl: string, hashes: readonly Uint8Array[] = []): string | undefined {
  const hash = announceUrl.indexOf('#');
  const base = hash >= 0 ? announceUrl.slice(0, hash) : announceUrl;
  const q = base.indexOf('?');
  const path = q >= 0 ? base.slice(0, q) : base;
  const query = q >= 0 ? base.slice(q) : '';
  const slash = path.lastIndexOf('/');
  if (slash < 0 || !path.startsWith('announce', slash + 1)) return undefined;
  let url = `${path.slice(0, slash + 1)}scrape${path.slice(slash + 1 + 'announce'.length)}${query}`;
  for (const h of hashes) {
    url += url.includes('?') ? (url.endsWith('?') || url.endsWith('&') ? '' : '&') : '?';
    url += `info_hash=${encodeBytes(h)}`;
  }
  return url;
}

/**
 * Reads a scrape response into stats by infohash (40 lowercase hex). Entries whose key is not 20
 * bytes or whose numbers are missing are skipped; a `failure reason` throws `ETRACKER_FAILURE`.
 */
export function parseScrapeResponse(body: Uint8Array): Map<string, ScrapeStats> {
  const d = decodeResponse(body);
  const files = d.get('files');
  if (files !== undefined && !isDict(files)) {
    throw new ChunkswarmError(
      'ETRACKER_RESPONSE',
      "tracker response is invalid: 'files' is not a dictionary",
    );
  }
  const out = new Map<string, ScrapeStats>();
  for (const [key, value] of files ?? []) {
    const hash = Buffer.from(key, 'latin1');
    if (hash.length !== 20 || !isDict(value)) continue;
    const complete = count(value.get('complete'));
    const incomplete = count(value.get('incomplete'));
    const downloaded = count(value.get('downloaded'));
    const name = value.get('name');
    const stats: { complete: number; incomplete: number; downloaded: number; name?: string } = {
      complete,
      incomplete,
      downloaded,
    };
    if (Buffer.isBuffer(name)) stats.name = name.toString('utf8');
    out.set(hash.toString('hex'), stats);
  }
  return out;
}

/** A count from a scrape entry; a tracker that leaves one out knows of none. */
function count(v: BValue | undefined): number {
  return typeof v === 'number' && v >= 0 ? v : 0;
}
