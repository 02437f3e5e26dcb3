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

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, as a dual-stack socket reports it) as plain IPv4. */
export function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
