import { Bitfield } from '../../shared/bitfield.js';
import { LIMITS } from '../../shared/limits.js';
import type { AnnounceEvent } from './announce-request.js';
import { encodeBytes } from './query.js';

/** A chunkswarm peer's chunk status, sent as the `cs_*` extras (other trackers ignore them). */
export interface ChunkStatus {
  /** Chunk count of the torrent. */
  readonly pieces: number;
  /** The BITFIELD bytes; replaced by `cs_have` when they would make the URL too long. */
  readonly bitfield?: Uint8Array | undefined;
  /** Chunks held; needed only when there is no bitfield. */
  readonly have?: number | undefined;
  readonly name?: string | undefined;
  /** Ask for each peer's chunk status in the response (`cs_status=1`). */
  readonly wantStatus?: boolean | undefined;
}

export interface AnnounceParams {
  readonly infoHash: Uint8Array;
  readonly peerId: Uint8Array;
  readonly port: number;
  readonly uploaded: number;
  readonly downloaded: number;
  readonly left: number;
  readonly event?: AnnounceEvent | undefined;
  readonly numwant?: number | undefined;
  /** Default true (BEP 23). */
  readonly compact?: boolean | undefined;
  readonly noPeerId?: boolean | undefined;
  readonly key?: string | undefined;
  readonly trackerId?: string | undefined;
  /** The address to announce (honoured only by trackers that trust the parameter). */
  readonly ip?: string | undefined;
  readonly chunks?: ChunkStatus | undefined;
  /** More parameters, sent as given (UTF-8, escaped). Names must not repeat the ones above. */
  readonly extras?: Readonly<Record<string, string>> | undefined;
}

/**
 * Longest announce URL we send. A tracker caps the request line plus headers (ours at
 * LIMITS.trackerRequestBytes); the rest of that budget is left for `GET`, `HTTP/1.1` and the headers.
 */
export const MAX_ANNOUNCE_URL_LENGTH = LIMITS.trackerRequestBytes - 512;

/**
 * The announce URL for `params`. Raw bytes are percent-encoded; a query already in `announceUrl`
 * (a private tracker's passkey, say) is kept and the parameters are appended after it.
 */
export function buildAnnounceUrl(announceUrl: string, params: AnnounceParams): string {
  const fragment = announceUrl.indexOf('#');
  const base = fragment >= 0 ? announceUrl.slice(0, fragment) : announceUrl;
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  const parts = [
    `info_hash=${encodeBytes(params.infoHash)}`,
    `peer_id=${encodeBytes(params.peerId)}`,
    `port=${params.port}`,
    `uploaded=${params.uploaded}`,
    `downloaded=${params.downloaded}`,
    `left=${params.left}`,
  ];
  if (params.event !== undefined) parts.push(`event=${params.event}`);
  if (params.numwant !== undefined) parts.push(`numwant=${params.numwant}`);
  parts.push(`compact=${params.compact === false ? 0 : 1}`);
  if (params.noPeerId) parts.push('no_peer_id=1');
  if (params.key !== undefined) parts.push(`key=${text(params.key)}`);
  if (params.trackerId !== undefined)
    parts.push(`trackerid=${encodeBytes(Buffer.from(params.trackerId, 'latin1'))}`);
  if (params.ip !== undefined) parts.push(`ip=${text(params.ip)}`);
  const c = params.chunks;
  if (c) {
    parts.push(`cs_pieces=${c.pieces}`);
    if (c.name !== undefined) parts.push(`cs_name=${text(c.name)}`);
    if (c.wantStatus) parts.push('cs_status=1');
  }
  for (const [k, v] of Object.entries(params.extras ?? {})) parts.push(`${text(k)}=${text(v)}`);

  let url = `${base}${sep}${parts.join('&')}`;
  if (c) {
    const bits = c.bitfield ? `&cs_bitfield=${Buffer.from(c.bitfield).toString('base64url')}` : undefined;
    if (bits !== undefined && url.length + bits.length <= MAX_ANNOUNCE_URL_LENGTH) url += bits;
    else {
      const have = c.have ?? (c.bitfield ? new Bitfield(c.pieces, c.bitfield).count : undefined);
      if (have !== undefined) url += `&cs_have=${have}`;
    }
  }
  return url;
}

function text(s: string): string {
  return encodeBytes(Buffer.from(s, 'utf8'));
}
