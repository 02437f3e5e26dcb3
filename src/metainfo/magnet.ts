import { ChunkswarmError } from '../shared/errors.js';
import { infoHashHex } from '../shared/types.js';
import { isWebSeedUrl } from './parse.js';
import type { MagnetLink, Metainfo } from './types.js';

/** Longest magnet link we read; real ones are a few hundred bytes. */
const MAX_MAGNET_LENGTH = 64 * 1024;
/** Trackers and peers kept from one link; the rest are dropped. */
const MAX_MAGNET_ENTRIES = 200;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function bad(message: string): never {
  throw new ChunkswarmError('EMAGNET', message);
}

/** All trackers of a torrent, each once, tiers in order (BEP 12). */
function trackersOf(meta: Metainfo): string[] {
  const out = new Set<string>();
  if (meta.announce !== undefined) out.add(meta.announce);
  for (const tier of meta.announceList) for (const url of tier) out.add(url);
  return [...out];
}

/** A magnet link for a torrent (BEP 9): infohash as hex, display name, each tracker once. */
export function magnetUri(meta: Metainfo): string {
  let uri = `magnet:?xt=urn:btih:${meta.infoHashHex}&dn=${encodeURIComponent(meta.name)}`;
  for (const url of trackersOf(meta)) uri += `&tr=${encodeURIComponent(url)}`;
  for (const url of meta.webSeeds) uri += `&ws=${encodeURIComponent(url)}`;
  return uri;
}

function base32Decode(s: string): Buffer | undefined {
  const out = Buffer.alloc((s.length * 5) >> 3);
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (const ch of s.toUpperCase()) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return undefined;
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

function parseInfoHash(value: string): Buffer {
  // BEP 9: the v1 infohash is 40 hex digits, or 32 base32 characters in older links.
  if (/^[0-9a-fA-F]{40}$/.test(value)) return Buffer.from(value, 'hex');
  if (value.length === 32) {
    const decoded = base32Decode(value);
    if (decoded !== undefined) return decoded;
  }
  return bad(`magnet link infohash '${value.slice(0, 64)}' is neither 40 hex nor 32 base32 characters`);
}

function decodeComponent(s: string, key: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return bad(`magnet link parameter '${key}' is not valid percent-encoding`);
  }
}

/** `host:port` with a port in range; IPv6 hosts in brackets. */
function isPeerAddress(s: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(s);
  if (m === null) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535;
}

/**
 * Reads a magnet link (BEP 9): the `urn:btih:` infohash (hex or base32), the display name,
 * trackers (`tr`, also numbered `tr.1` ...), peer addresses (`x.pe`) and web seeds (`ws`). Other parameters and
 * other `xt` kinds are ignored; a link without a v1 infohash is refused.
 */
export function parseMagnet(uri: string): MagnetLink {
  if (typeof uri !== 'string') bad('a magnet link must be a string');
  if (uri.length > MAX_MAGNET_LENGTH) bad(`magnet link is longer than ${MAX_MAGNET_LENGTH} characters`);
  const trimmed = uri.trim();
  if (!/^magnet:\?/i.test(trimmed)) bad("not a magnet link: it must start with 'magnet:?'");
  const query = trimmed.slice('magnet:?'.length);

  let infoHash: Buffer | undefined;
  let v2Only = false;
  let name: string | undefined;
  const trackers = new Set<string>();
  const peers = new Set<string>();
  const webSeeds = new Set<string>();
  for (const part of query.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).toLowerCase();
    const raw = part.slice(eq + 1);
    if (key === 'xt' || /^xt\.\d+$/.test(key)) {
      const value = decodeComponent(raw, key);
      if (infoHash === undefined && /^urn:btih:/i.test(value)) infoHash = parseInfoHash(value.slice(9));
      else if (/^urn:btmh:/i.test(value)) v2Only = true;
    } else if (key === 'dn') {
      // Some sites write spaces in the name as '+', as in a form submission.
      if (name === undefined) name = decodeComponent(raw.replace(/\+/g, ' '), key);
    } else if (key === 'tr' || /^tr\.\d+$/.test(key)) {
      const url = decodeComponent(raw, key);
      if (url.length > 0 && trackers.size < MAX_MAGNET_ENTRIES) trackers.add(url);
    } else if (key === 'ws' || /^ws\.\d+$/.test(key)) {
      const url = decodeComponent(raw, key);
      if (isWebSeedUrl(url) && webSeeds.size < MAX_MAGNET_ENTRIES) webSeeds.add(url);
    } else if (key === 'x.pe') {
      const peer = decodeComponent(raw, key);
      if (isPeerAddress(peer) && peers.size < MAX_MAGNET_ENTRIES) peers.add(peer);
    }
  }
  if (infoHash === undefined && v2Only)
    bad(
      'magnet link has only a BitTorrent v2 infohash (xt=urn:btmh:...); v2-only torrents (BEP 52) are not supported',
    );
  if (infoHash === undefined) bad('magnet link has no BitTorrent infohash (xt=urn:btih:...)');
  return {
    infoHash,
    infoHashHex: infoHashHex(infoHash),
    name,
    trackers: [...trackers],
    peers: [...peers],
    webSeeds: [...webSeeds],
  };
}
