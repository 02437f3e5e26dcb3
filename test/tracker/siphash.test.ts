import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sipHash24, sipKey } from '../../src/tracker/server/siphash.js';

/**
 * The reference vectors of SipHash-2-4 (the paper's appendix and its reference code): key
 * 00 01 .. 0f, message 00 01 .. (n - 1), output as the reference writes it (little-endian).
 * Checked against OpenSSL's SIPHASH MAC as well (`openssl mac -macopt size:8 ... SIPHASH`).
 */
const VECTORS: readonly [number, string][] = [
  [0, '310e0edd47db6f72'],
  [1, 'fd67dc93c539f874'],
  [2, '5a4fa9d909806c0d'],
  [3, '2d7efbd796666785'],
  [7, '37d1018bf50002ab'],
  [8, '6224939a79f5f593'],
  [15, 'e545be4961ca29a1'],
  [16, 'db9bc2577fcc2a3f'],
  [63, '724506eb4c328a95'],
];

const KEY = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i));

function hex(msg: Uint8Array, length = msg.length): string {
  const out = Buffer.alloc(8);
  sipHash24(KEY, msg, length, out);
  return out.toString('hex');
}

describe('SipHash-2-4', () => {
  for (const [n, want] of VECTORS) {
    it(`gives the reference output for ${n} bytes`, () => {
      assert.equal(hex(Uint8Array.from({ length: n }, (_, i) => i)), want);
    });
  }

  it('hashes only the first `length` bytes, and writes at the offset given', () => {
    const msg = Uint8Array.from({ length: 40 }, (_, i) => (i < 15 ? i : 0xee));
    assert.equal(hex(msg, 15), 'e545be4961ca29a1');
    const out = Buffer.alloc(12, 0xaa);
    sipHash24(KEY, msg, 15, out, 2);
    assert.equal(out.toString('hex'), 'aaaae545be4961ca29a1aaaa');
  });

  it('gives another output under another key', () => {
    const other = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i + 1));
    const out = Buffer.alloc(8);
    sipHash24(other, new Uint8Array(0), 0, out);
    assert.notEqual(out.toString('hex'), '310e0edd47db6f72');
  });

  it('refuses a key that is not 16 bytes', () => {
    assert.throws(() => sipKey(new Uint8Array(15)), RangeError);
  });
});
