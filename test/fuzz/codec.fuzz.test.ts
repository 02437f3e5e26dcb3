/**
 * Property tests for the bencode decoder on hostile input: mutated valid documents and random
 * bytes must either decode or fail with a ChunkswarmError carrying an EBENCODE_* code.
 * FUZZ_RUNS raises the number of runs (a long pass: FUZZ_RUNS=100000).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type BencodeLimits,
  decode,
  decodeDictSpans,
  decodePrefix,
  type Encodable,
  encode,
} from '../../src/codec/index.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { encodableArb } from '../codec/arbitraries.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? '') || 2000;

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

// Bytes that steer the decoder into its interesting branches more often than uniform noise does.
const syntaxByte = fc.constantFrom(...Buffer.from('ilde:-0123456789x'));

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(syntaxByte, fc.nat(255)) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      fc.array(syntaxByte, { minLength: 1, maxLength: 8 }).map((a) => Uint8Array.from(a)),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let out = Buffer.from(input);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + (m.kind === 'insert' ? 1 : 0));
    if (m.kind === 'flip' && out.length > 0) out[at] = out[at]! ^ m.mask;
    else if (m.kind === 'set' && out.length > 0) out[at] = m.byte;
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.count)]);
  }
  return out;
}

const tightLimits: Partial<BencodeLimits> = { maxDepth: 4, maxTokens: 40, maxBytes: 300 };

/** Runs every decoder entry point; any failure must be one of ours with an EBENCODE_* code. */
function decodeAllWays(input: Buffer): void {
  const attempts: (() => unknown)[] = [
    () => {
      // Strict decode accepts only canonical bencode, so re-encoding must give the input back.
      const v = decode(input);
      assert.deepEqual(encode(v as Encodable), input);
    },
    () => decode(input, { strictKeyOrder: false }),
    () => decode(input, tightLimits),
    () => {
      const { length } = decodePrefix(input);
      assert.ok(length > 0 && length <= input.length);
    },
    () => {
      const { value, spans } = decodeDictSpans(input, { strictKeyOrder: false });
      for (const [key, span] of spans) {
        assert.ok(value.has(key));
        assert.ok(span.start > 0 && span.start < span.end && span.end < input.length);
      }
    },
  ];
  for (const attempt of attempts) {
    try {
      attempt();
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assert.ok(err instanceof ChunkswarmError, `not a ChunkswarmError: ${String(err)}`);
      assert.match(err.code, /^EBENCODE_/);
      assert.ok(err.message.length > 0 && !err.message.includes('\n'));
    }
  }
}

test('mutated valid documents decode or fail with an EBENCODE_* code', () => {
  fc.assert(
    fc.property(
      encodableArb(4),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      (value, mutations) => {
        decodeAllWays(mutate(encode(value), mutations));
      },
    ),
    { numRuns: RUNS },
  );
});

test('mutated dictionaries keep decodeDictSpans honest', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 6 }), encodableArb(3), { minKeys: 1, maxKeys: 6 }),
      fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
      (value, mutations) => {
        decodeAllWays(mutate(encode(value), mutations));
      },
    ),
    { numRuns: RUNS },
  );
});

test('random bytes decode or fail with an EBENCODE_* code', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(syntaxByte, { maxLength: 64 }).map((a) => Uint8Array.from(a)),
      ),
      (bytes) => {
        decodeAllWays(Buffer.from(bytes));
      },
    ),
    { numRuns: RUNS },
  );
});
