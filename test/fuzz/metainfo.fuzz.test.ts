/**
 * Hostile .torrent files: byte-mutated valid torrents and structurally random info dictionaries
 * must parse or fail with a ChunkswarmError carrying a metainfo or bencode code; anything that
 * parses must describe a consistent layout. FUZZ_RUNS raises the number of runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Encodable } from '../../src/codec/index.js';
import { parseMetainfo, pieceSpans } from '../../src/metainfo/index.js';
import type { Metainfo } from '../../src/metainfo/types.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { encodableArb } from '../codec/arbitraries.js';
import { multiInfo, singleInfo, torrentBytes } from '../metainfo/helpers.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? '') || 2000;
const KiB = 1024;

const ALLOWED = /^(EMETAINFO|EMETAINFO_SIZE|EUNSAFE_PATH|EBENCODE_[A-Z_]+)$/;

/** What a parsed torrent must satisfy whatever input it came from. */
function checkConsistent(m: Metainfo): void {
  assert.equal(m.infoHash.length, 20);
  assert.equal(m.pieceHashes.length, m.pieceCount * 20);
  assert.ok(m.totalLength > 0);
  assert.equal(m.pieceCount, Math.ceil(m.totalLength / m.pieceLength));
  let offset = 0;
  for (const f of m.files) {
    assert.equal(f.offset, offset);
    assert.ok(f.length >= 0 && f.path.length > 0);
    for (const c of f.path) assert.ok(c.length > 0 && c !== '..' && c !== '.' && !/[/\\\0]/.test(c));
    offset += f.length;
  }
  assert.equal(offset, m.totalLength);
  const covered = pieceSpans(m, m.pieceCount - 1).reduce((n, s) => n + s.length, 0);
  assert.equal(covered, m.totalLength - (m.pieceCount - 1) * m.pieceLength);
}

function parseOrRefuse(bytes: Uint8Array): void {
  let m: Metainfo;
  try {
    m = parseMetainfo(bytes);
  } catch (err) {
    assert.ok(err instanceof ChunkswarmError, `not a ChunkswarmError: ${String(err)}`);
    assert.match(err.code, ALLOWED);
    assert.ok(err.message.length > 0 && !err.message.includes('\n'), err.message);
    return;
  }
  checkConsistent(m);
}

const validTorrent = fc.oneof(
  fc.constant(torrentBytes(singleInfo({}, 40 * KiB))),
  fc.constant(
    torrentBytes(
      multiInfo([
        { length: 10 * KiB, path: ['a', 'b.txt'] },
        { length: 0, path: ['empty'] },
        { length: 30 * KiB, path: ['c'] },
      ]),
      { announce: 'http://t/a', 'announce-list': [['http://t/a'], ['udp://u:1']], comment: 'c' },
    ),
  ),
);

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 6 }) }),
  // Digits are where lengths and integers live: nudging them reaches the metainfo checks.
  fc.record({
    kind: fc.constant('digit' as const),
    at: fc.nat(),
    digit: fc.integer({ min: 0x30, max: 0x39 }),
  }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let out = Buffer.from(input);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === 'flip' && out.length > 0) out[at] = out[at]! ^ m.mask;
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.count)]);
    else if (m.kind === 'digit' && out.length > 0) {
      // Replace the nearest digit at or after `at`, if any.
      for (let i = at; i < out.length; i++) {
        if (out[i]! >= 0x30 && out[i]! <= 0x39) {
          out[i] = m.digit;
          break;
        }
      }
    }
  }
  return out;
}

test('byte-mutated torrents parse or fail with a metainfo/bencode code', () => {
  fc.assert(
    fc.property(validTorrent, fc.array(mutation, { minLength: 1, maxLength: 3 }), (bytes, muts) => {
      parseOrRefuse(mutate(bytes, muts));
    }),
    { numRuns: RUNS },
  );
});

/** Either a plausible value or anything at all. */
const wild = encodableArb(2);
const plausibleOr = (arb: fc.Arbitrary<Encodable>): fc.Arbitrary<Encodable> =>
  fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: wild });
/** For a dictionary value: plausible, wild, or absent. */
const keyValue = (arb: fc.Arbitrary<Encodable>): fc.Arbitrary<Encodable | undefined> =>
  fc.option(plausibleOr(arb), { nil: undefined, freq: 6 });

const component = fc.oneof(
  fc.constantFrom('a', 'b', '..', '.', '', 'C:', 'x/y', 'é', 'a\\b', 'n\0ul', 'x'.repeat(256)),
  fc.string({ maxLength: 8 }),
);

const fileEntry: fc.Arbitrary<Encodable> = fc.record({
  length: keyValue(fc.integer({ min: -2, max: 64 * KiB })),
  path: keyValue(fc.array(component, { maxLength: 4 })),
  'path.utf-8': fc.option(fc.array(component, { maxLength: 3 }), { nil: undefined }),
  attr: fc.option(fc.constantFrom('p', 'x', 'ph'), { nil: undefined }),
});

const randomInfo: fc.Arbitrary<Encodable> = fc.record({
  name: keyValue(component),
  'name.utf-8': fc.option(component, { nil: undefined }),
  'piece length': keyValue(fc.constantFrom(16 * KiB, 32 * KiB, 0, -1, 1000, 16 * KiB + 1, 1 << 25)),
  pieces: keyValue(fc.integer({ min: 0, max: 12 }).map((n) => Buffer.alloc(n * 20 + (n % 5 === 4 ? 1 : 0)))),
  length: keyValue(fc.integer({ min: -1, max: 200 * KiB })),
  files: keyValue(fc.array(plausibleOr(fileEntry), { maxLength: 5 })),
  private: fc.option(wild, { nil: undefined }),
});

const randomOuter = fc.record({
  announce: fc.option(wild, { nil: undefined }),
  'announce-list': fc.option(wild, { nil: undefined }),
  comment: fc.option(wild, { nil: undefined }),
  'created by': fc.option(wild, { nil: undefined }),
  'creation date': fc.option(wild, { nil: undefined }),
});

test('structurally random torrents parse or fail with a metainfo/bencode code', () => {
  fc.assert(
    fc.property(randomInfo, randomOuter, fc.boolean(), (info, outer, infoIsWild) => {
      parseOrRefuse(torrentBytes(infoIsWild ? (outer.comment ?? 0) : info, outer));
    }),
    { numRuns: RUNS },
  );
});
