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
