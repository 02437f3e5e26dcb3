/**
 * A fixed-size set of piece indexes, stored as the wire protocol's BITFIELD payload: high bit of
 * byte 0 is piece 0 (BEP 3). Spare bits at the end stay zero.
 */
export class Bitfield {
  readonly size: number;
  readonly bytes: Uint8Array;
  #count = 0;

  constructor(size: number, bytes?: Uint8Array) {
    this.size = size;
    this.bytes = new Uint8Array(Math.ceil(size / 8));
    if (bytes) {
      this.bytes.set(bytes.subarray(0, this.bytes.length));
      const spare = this.bytes.length * 8 - size;
      if (spare > 0) this.bytes[this.bytes.length - 1]! &= 0xff << spare;
      for (const b of this.bytes) this.#count += popcount(b);
    }
  }

  static full(size: number): Bitfield {
    const bf = new Bitfield(size);
    for (let i = 0; i < size; i++) bf.set(i);
    return bf;
  }

  /** True when `bytes` is exactly as long as a bitfield of `size` and has no spare bit set (BEP 3). */
  static isValidPayload(size: number, bytes: Uint8Array): boolean {
    if (bytes.length !== Math.ceil(size / 8)) return false;
    const spare = bytes.length * 8 - size;
    return spare === 0 || (bytes[bytes.length - 1]! & ((1 << spare) - 1)) === 0;
  }

  get count(): number {
    return this.#count;
  }

  get complete(): boolean {
    return this.#count === this.size;
  }

  has(index: number): boolean {
    if (index < 0 || index >= this.size) return false;
    return (this.bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0;
  }

  /** Sets a bit; returns false when it was already set or out of range. */
  set(index: number): boolean {
    if (index < 0 || index >= this.size || this.has(index)) return false;
    this.bytes[index >> 3]! |= 0x80 >> (index & 7);
    this.#count++;
    return true;
  }

  clear(index: number): boolean {
    if (!this.has(index)) return false;
    this.bytes[index >> 3]! &= ~(0x80 >> (index & 7));
    this.#count--;
    return true;
  }

  *indexes(): IterableIterator<number> {
    for (let i = 0; i < this.size; i++) if (this.has(i)) yield i;
  }

  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (!this.has(i)) out.push(i);
    return out;
  }

  clone(): Bitfield {
    return new Bitfield(this.size, this.bytes);
  }

  /** "1101..." — the picture form used in tests and the shell. */
  toString(): string {
    let s = '';
    for (let i = 0; i < this.size; i++) s += this.has(i) ? '1' : '0';
    return s;
  }

  static fromString(picture: string): Bitfield {
    const bits = picture.replace(/\s+/g, '');
    const bf = new Bitfield(bits.length);
    for (let i = 0; i < bits.length; i++) if (bits[i] === '1') bf.set(i);
    return bf;
  }
}

function popcount(b: number): number {
  let n = 0;
  for (let v = b; v; v &= v - 1) n++;
  return n;
}
