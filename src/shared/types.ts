/** Branded primitives: a plain number or string cannot be passed where one of these is meant. */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A 0-based piece ("chunk" in the seed's words) index. */
export type PieceIndex = Brand<number, 'PieceIndex'>;
/** 40 lowercase hex characters of a v1 infohash. */
export type InfoHashHex = Brand<string, 'InfoHashHex'>;

export const pieceIndex = (n: number): PieceIndex => n as PieceIndex;

export function infoHashHex(bytes: Uint8Array): InfoHashHex {
  return Buffer.from(bytes).toString('hex') as InfoHashHex;
}

/** An address as the seed writes it: `ip:port` (IPv6 in brackets). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Orders strings by their UTF-16 code units. For addresses, hashes and the like, where the order only has
 * to be stable: `localeCompare` would load ICU's collator on its first call, about 12 ms of a peer's start.
 */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders `formatAddress` strings by host, then by port as a number (4722 before 47210). */
export function compareAddresses(a: string, b: string): number {
  const i = a.lastIndexOf(':');
  const j = b.lastIndexOf(':');
  return byCodeUnits(a.slice(0, i), b.slice(0, j)) || Number(a.slice(i + 1)) - Number(b.slice(j + 1));
}

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, as a dual-stack socket reports it) as plain IPv4. */
export function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
