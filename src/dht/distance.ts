/** Kademlia's XOR metric over 160-bit ids (BEP 5): pure helpers shared by the routing table and lookups. */

/** Bits `a` and `b` share from the top, 0 to 160. */
export function commonPrefixBits(a: Buffer, b: Buffer): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return a.length * 8;
}

/** Negative when `a` is closer to `target` than `b`, positive when farther, 0 when equal. */
export function compareDistance(a: Buffer, b: Buffer, target: Buffer): number {
  for (let i = 0; i < target.length; i++) {
    const da = a[i]! ^ target[i]!;
    const db = b[i]! ^ target[i]!;
    if (da !== db) return da - db;
  }
  return 0;
}

/**
 * An id that shares exactly `bits` leading bits with `base` (the next bit flipped), the rest from
 * `random`: a target inside the routing table bucket of that depth, for a refresh (BEP 5).
 */
export function idInBucket(base: Buffer, bits: number, random: Buffer): Buffer {
  const out = Buffer.from(random);
  const full = Math.min(bits, base.length * 8);
  for (let i = 0; i < full; i++) setBit(out, i, bitAt(base, i));
  if (full < base.length * 8) setBit(out, full, bitAt(base, full) ^ 1);
  return out;
}

function bitAt(b: Buffer, i: number): number {
  return (b[i >> 3]! >> (7 - (i & 7))) & 1;
}

function setBit(b: Buffer, i: number, v: number): void {
  const mask = 1 << (7 - (i & 7));
  b[i >> 3] = v ? b[i >> 3]! | mask : b[i >> 3]! & ~mask;
}
