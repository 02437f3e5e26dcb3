import { ChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { byCodeUnits } from '../../shared/types.js';
import { formatIp, normalizeIp, parseIp } from './ip.js';

/**
 * `cs_rates`: a chunkswarm peer's transfer rates with its busiest peers, sent as an extra announce
 * parameter so the tracker's page can draw the swarm as a graph (who sends to whom, how fast).
 * Standard clients never send it and trackers that do not know it ignore it.
 *
 * Wire form: base64url (no padding) of entries, each
 *   family (1 byte: 4 or 6) | address (4 or 16 bytes) | port (2) | down (4) | up (4)
 * big-endian, where `down` is bytes/s this peer receives from that address and `up` bytes/s it
 * sends there (both capped at 2^32 - 1). The address is the other peer's listening address, as
 * the tracker knows it, so the two ends of a transfer name the same pair.
 */
export interface PeerRate {
  readonly ip: string;
  readonly port: number;
  /** Bytes per second received from this peer. */
  readonly down: number;
  /** Bytes per second sent to this peer. */
  readonly up: number;
}

const U32_MAX = 0xffff_ffff;

function clampRate(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(U32_MAX, Math.round(n)) : 0;
}

/**
 * The `cs_rates` value for an announce: the `max` peers with the most traffic (down + up), idle
 * ones and unusable addresses left out; undefined when nothing is left to send.
 */
export function encodeRatesParam(
  peers: readonly PeerRate[],
  max: number = LIMITS.trackerMaxRates,
): string | undefined {
  const usable: { addr: Buffer; port: number; down: number; up: number; ip: string }[] = [];
  for (const p of peers) {
    const ip = normalizeIp(p.ip);
    const addr = ip === undefined ? undefined : parseIp(ip);
    if (!addr || ip === undefined || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) continue;
    const down = clampRate(p.down);
    const up = clampRate(p.up);
    if (down + up === 0) continue;
    usable.push({ addr, port: p.port, down, up, ip });
  }
  usable.sort((a, b) => b.down + b.up - (a.down + a.up) || byCodeUnits(a.ip, b.ip) || a.port - b.port);
  const chosen = usable.slice(0, Math.max(0, Math.min(max, LIMITS.trackerMaxRates)));
  if (chosen.length === 0) return undefined;
  const parts: Buffer[] = [];
  for (const r of chosen) {
    const b = Buffer.allocUnsafe(1 + r.addr.length + 10);
    b[0] = r.addr.length === 4 ? 4 : 6;
    r.addr.copy(b, 1);
    b.writeUInt16BE(r.port, 1 + r.addr.length);
    b.writeUInt32BE(r.down, 3 + r.addr.length);
    b.writeUInt32BE(r.up, 7 + r.addr.length);
    parts.push(b);
  }
  return Buffer.concat(parts).toString('base64url');
}

/** Longest `cs_rates` value accepted: LIMITS.trackerMaxRates IPv6 entries, in base64url. */
export const MAX_RATES_PARAM = Math.ceil(((1 + 16 + 10) * LIMITS.trackerMaxRates * 4) / 3);

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Reads a `cs_rates` value. Throws ETRACKER_REQUEST (the announce's failure reason) for anything
 * malformed: too long, not base64url, a truncated entry, an unknown family, port 0.
 */
export function decodeRatesParam(text: string): PeerRate[] {
  const bad = (why: string): never => {
    throw new ChunkswarmError('ETRACKER_REQUEST', `invalid cs_rates: ${why}`);
  };
  if (text.length > MAX_RATES_PARAM) bad(`longer than ${MAX_RATES_PARAM} characters`);
  if (!BASE64URL.test(text) || text.length % 4 === 1) bad('not base64url');
  const bytes = Buffer.from(text, 'base64url');
  const out: PeerRate[] = [];
  for (let at = 0; at < bytes.length; ) {
    const family = bytes[at]!;
    if (family !== 4 && family !== 6) bad(`address family ${family}`);
    const len = family === 4 ? 4 : 16;
    if (at + 1 + len + 10 > bytes.length) bad('an entry is cut short');
    const ip = formatIp(bytes.subarray(at + 1, at + 1 + len));
    const port = bytes.readUInt16BE(at + 1 + len);
    if (port === 0) bad('port 0');
    out.push({ ip, port, down: bytes.readUInt32BE(at + 3 + len), up: bytes.readUInt32BE(at + 7 + len) });
    at += 1 + len + 10;
  }
  if (out.length > LIMITS.trackerMaxRates) bad(`more than ${LIMITS.trackerMaxRates} peers`);
  return out;
}
