import { createHash } from 'node:crypto';
import { ChunkswarmError } from '../shared/errors.js';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4Bytes(ip: string): Buffer | null {
  // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d.
  const plain = ip.toLowerCase().startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  const match = IPV4.exec(plain);
  if (!match) return null;
  const bytes = match.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return null;
  return Buffer.from(bytes);
}

/**
 * The allowed-fast set we grant a peer (BEP 6): pieces it may fetch while choked. The set is a pure
 * function of the peer's /24 network and the infohash, so every client computes the same one and
 * a peer cannot get a bigger set by reconnecting from a neighbouring address.
 *
 * BEP 6 defines the set only for IPv4, so an IPv6 peer gets none. `k` larger than the torrent is
 * capped at its piece count, where the set is every piece.
 */
export function allowedFastSet(ip: string, infoHash: Buffer, pieceCount: number, k: number): number[] {
  if (infoHash.length !== 20) {
    throw new ChunkswarmError(
      'EUSAGE',
      `allowed-fast set: the infohash must be 20 bytes, got ${infoHash.length}`,
    );
  }
  if (!Number.isInteger(pieceCount) || pieceCount < 0 || pieceCount > 0xffff_ffff) {
    throw new ChunkswarmError('EUSAGE', `allowed-fast set: bad piece count ${pieceCount}`);
  }
  if (!Number.isInteger(k) || k < 0) {
    throw new ChunkswarmError('EUSAGE', `allowed-fast set: bad set size ${k}`);
  }
  const address = ipv4Bytes(ip);
  if (!address) {
    if (ip.includes(':')) return [];
    throw new ChunkswarmError('EUSAGE', `allowed-fast set: '${ip}' is not an IP address`);
  }
  const want = Math.min(k, pieceCount);
  const chosen = new Set<number>();
  // BEP 6: start from the address masked to its /24, followed by the infohash; hash repeatedly and
  // take each 4-byte big-endian word of the digest modulo the piece count.
  address[3] = 0;
  let x: Buffer = Buffer.concat([address, infoHash]);
  while (chosen.size < want) {
    x = createHash('sha1').update(x).digest();
    for (let i = 0; i < 5 && chosen.size < want; i++) {
      chosen.add(x.readUInt32BE(i * 4) % pieceCount);
    }
  }
  return [...chosen];
}
