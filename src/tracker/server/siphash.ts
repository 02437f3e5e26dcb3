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

/** The little-endian 32-bit word at `o` of `m`, zeros at and past `end`. */
function word(m: Uint8Array, o: number, end: number): number {
  if (o + 4 <= end) return (m[o]! | (m[o + 1]! << 8) | (m[o + 2]! << 16) | (m[o + 3]! << 24)) >>> 0;
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (o + i < end ? m[o + i]! : 0);
  return w >>> 0;
}

/**
 * SipHash-2-4 of `msg[0, length)` under `key`, written as 8 bytes little-endian (the reference
 * implementation's output order) into `out` at `at`. `out` may be any buffer; nothing is allocated.
 *
 * The state lives in local variables, two unsigned 32-bit halves per word (`l` low, `h` high), and
 * one loop runs every SipRound: two per message word (the last word carries the length), then
 * four to finish. Written out once, so the round is compiled once and stays in registers.
 */
export function sipHash24(key: SipKey, msg: Uint8Array, length: number, out: Uint8Array, at = 0): void {
  // "somepseudorandomlygeneratedbytes", the constants of the paper, in halves.
  let v0l = (key.k0lo ^ 0x70736575) >>> 0;
  let v0h = (key.k0hi ^ 0x736f6d65) >>> 0;
  let v1l = (key.k1lo ^ 0x6e646f6d) >>> 0;
  let v1h = (key.k1hi ^ 0x646f7261) >>> 0;
  let v2l = (key.k0lo ^ 0x6e657261) >>> 0;
  let v2h = (key.k0hi ^ 0x6c796765) >>> 0;
  let v3l = (key.k1lo ^ 0x79746573) >>> 0;
  let v3h = (key.k1hi ^ 0x74656462) >>> 0;
  const words = Math.floor(length / 8) + 1;
  const last = (words - 1) * 8;
  let k = 0;
  let ml = word(msg, 0, length);
  let mh = words === 1 ? (word(msg, 4, length) | ((length & 0xff) << 24)) >>> 0 : word(msg, 4, length);
  v3l = (v3l ^ ml) >>> 0;
  v3h = (v3h ^ mh) >>> 0;
  const rounds = 2 * words + 4;
  for (let r = 0; r < rounds; r++) {
    // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
    let t = v0l + v1l;
    v0h = (v0h + v1h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = t >>> 0;
    t = v1l;
    v1l = (((v1l << 13) | (v1h >>> 19)) ^ v0l) >>> 0;
    v1h = (((v1h << 13) | (t >>> 19)) ^ v0h) >>> 0;
    t = v0l;
    v0l = v0h;
    v0h = t;
    // v2 += v3; v3 = rotl(v3, 16) ^ v2
    t = v2l + v3l;
    v2h = (v2h + v3h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = t >>> 0;
    t = v3l;
    v3l = (((v3l << 16) | (v3h >>> 16)) ^ v2l) >>> 0;
    v3h = (((v3h << 16) | (t >>> 16)) ^ v2h) >>> 0;
    // v0 += v3; v3 = rotl(v3, 21) ^ v0
    t = v0l + v3l;
    v0h = (v0h + v3h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = t >>> 0;
    t = v3l;
    v3l = (((v3l << 21) | (v3h >>> 11)) ^ v0l) >>> 0;
    v3h = (((v3h << 21) | (t >>> 11)) ^ v0h) >>> 0;
    // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
    t = v2l + v1l;
    v2h = (v2h + v1h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = t >>> 0;
    t = v1l;
    v1l = (((v1l << 17) | (v1h >>> 15)) ^ v2l) >>> 0;
    v1h = (((v1h << 17) | (t >>> 15)) ^ v2h) >>> 0;
    t = v2l;
    v2l = v2h;
    v2h = t;
    if ((r & 1) === 1 && k < words) {
      // A word's two rounds are done: v0 ^= m, then the next word, or the finish.
      v0l = (v0l ^ ml) >>> 0;
      v0h = (v0h ^ mh) >>> 0;
      k++;
      if (k < words) {
        const o = k * 8;
        ml = word(msg, o, length);
        mh =
          o === last ? (word(msg, o + 4, length) | ((length & 0xff) << 24)) >>> 0 : word(msg, o + 4, length);
        v3l = (v3l ^ ml) >>> 0;
        v3h = (v3h ^ mh) >>> 0;
      } else {
        v2l = (v2l ^ 0xff) >>> 0;
      }
    }
  }
  const lo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  const hi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  for (let i = 0; i < 4; i++) {
    out[at + i] = lo >>> (8 * i);
    out[at + 4 + i] = hi >>> (8 * i);
  }
}
