/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash, a pseudorandom function for
 * short inputs. The UDP tracker derives BEP 15 connection ids with it: an id must be something only
 * the holder of the tracker's secret can compute for an address, port and minute, and an HMAC did
 * that at the price of two hash objects from node:crypto per exchange, which cost more than the
 * rest of a connect and an announce together (issue 14). Pure: bytes in, a number pair out.
 *
 * JavaScript has no 64-bit integer arithmetic short of BigInt (which allocates), so each 64-bit
 * word is kept as two unsigned 32-bit halves.
 */

/** A SipHash key, read once: the four 32-bit halves of its two little-endian 64-bit words. */
export interface SipKey {
  readonly k0lo: number;
  readonly k0hi: number;
  readonly k1lo: number;
  readonly k1hi: number;
}

/** Reads a 16-byte key. */
export function sipKey(key: Uint8Array): SipKey {
  if (key.length !== 16) throw new RangeError(`a SipHash key is 16 bytes, not ${key.length}`);
  const le = (o: number) => (key[o]! | (key[o + 1]! << 8) | (key[o + 2]! << 16) | (key[o + 3]! << 24)) >>> 0;
  return { k0lo: le(0), k0hi: le(4), k1lo: le(8), k1hi: le(12) };
}

/**
 * The state v0..v3 as [v0lo, v0hi, v1lo, v1hi, v2lo, v2hi, v3lo, v3hi]; one for every call (a hash
 * is computed synchronously and never re-entered), so hashing allocates nothing.
 */
const V = new Uint32Array(8);

/** v += w, 64 bits, on halves at `a` (v) and `b` (w) of V. */
function add(a: number, b: number): void {
  const lo = V[a]! + V[b]!;
  V[a] = lo;
  V[a + 1] = V[a + 1]! + V[b + 1]! + (lo > 0xffffffff ? 1 : 0);
}

/** v = rotl(v, n) for 0 < n < 32, on halves at `a` of V. */
function rotl(a: number, n: number): void {
  const lo = V[a]!;
  const hi = V[a + 1]!;
  V[a] = (lo << n) | (hi >>> (32 - n));
  V[a + 1] = (hi << n) | (lo >>> (32 - n));
}

/** v = rotl(v, 32): the halves swap. */
function swap(a: number): void {
  const lo = V[a]!;
  V[a] = V[a + 1]!;
  V[a + 1] = lo;
}

/** v ^= w, on halves at `a` (v) and `b` (w) of V. */
function xor(a: number, b: number): void {
  V[a] = V[a]! ^ V[b]!;
  V[a + 1] = V[a + 1]! ^ V[b + 1]!;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function sipRound(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  swap(V0);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  swap(V2);
}

/** Mixes one message word (two little-endian halves) in: v3 ^= m, two rounds, v0 ^= m. */
function compress(lo: number, hi: number): void {
  V[V3] = V[V3]! ^ lo;
  V[V3 + 1] = V[V3 + 1]! ^ hi;
  sipRound();
  sipRound();
  V[V0] = V[V0]! ^ lo;
  V[V0 + 1] = V[V0 + 1]! ^ hi;
}

/** The little-endian 32-bit word at `o` of `m`, zeros past `end`. */
function word(m: Uint8Array, o: number, end: number): number {
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (o + i < end ? m[o + i]! : 0);
  return w >>> 0;
}

/**
 * SipHash-2-4 of `msg[0, length)` under `key`, written as 8 bytes little-endian (the reference
 * implementation's output order) into `out` at `at`. `out` may be any buffer; nothing is allocated.
 */
export function sipHash24(key: SipKey, msg: Uint8Array, length: number, out: Uint8Array, at = 0): void {
  // "somepseudorandomlygeneratedbytes", the constants of the paper, in halves.
  V[V0] = key.k0lo ^ 0x70736575;
  V[V0 + 1] = key.k0hi ^ 0x736f6d65;
  V[V1] = key.k1lo ^ 0x6e646f6d;
  V[V1 + 1] = key.k1hi ^ 0x646f7261;
  V[V2] = key.k0lo ^ 0x6e657261;
  V[V2 + 1] = key.k0hi ^ 0x6c796765;
  V[V3] = key.k1lo ^ 0x79746573;
  V[V3 + 1] = key.k1hi ^ 0x74656462;
  const whole = length - (length % 8);
  for (let o = 0; o < whole; o += 8) compress(word(msg, o, length), word(msg, o + 4, length));
  // The last word: the remaining bytes, zeros, and the length's low byte on top.
  compress(word(msg, whole, length), (word(msg, whole + 4, length) | ((length & 0xff) << 24)) >>> 0);
  V[V2] = V[V2]! ^ 0xff;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  const lo = V[V0]! ^ V[V1]! ^ V[V2]! ^ V[V3]!;
  const hi = V[V0 + 1]! ^ V[V1 + 1]! ^ V[V2 + 1]! ^ V[V3 + 1]!;
  for (let i = 0; i < 4; i++) {
    out[at + i] = lo >>> (8 * i);
    out[at + 4 + i] = hi >>> (8 * i);
  }
}
