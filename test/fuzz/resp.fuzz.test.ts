import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  encodeCommand,
  encodeReply,
  RespError,
  RespParser,
  RespProtocolError,
  type RespValue,
} from '../../src/tracker/server/redis/resp.js';
import { split } from './split.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

/** Replies a server may send: simple strings and errors have no CR or LF in them. */
const line = fc.stringMatching(/^[ -~]{0,40}$/);
const reply: fc.Arbitrary<RespValue> = fc.letrec<{ v: RespValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    line,
    line.map((m) => new RespError(`ERR ${m}`)),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.constant(null),
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    fc.array(tie('v'), { maxLength: 5 }),
  ),
})).v;

function feedAll(parser: RespParser, chunks: Buffer[]): RespValue[] {
  return chunks.flatMap((c) => parser.push(c));
}

describe('RESP2 parser (fuzz)', () => {
  it('gives back what was encoded, however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(reply, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (vs, cuts) => {
          const bytes = Buffer.concat(vs.map(encodeReply));
          const parser = new RespParser();
          const got = feedAll(parser, split(bytes, cuts));
          assert.deepEqual(got, vs);
          assert.equal(parser.buffered, 0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('never throws anything but RespProtocolError on arbitrary bytes, and never returns more than it was sent', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 8 }), (raw, cuts) => {
        const parser = new RespParser({
          maxBulkBytes: 1024,
          maxArrayLength: 64,
          maxDepth: 4,
          maxLineBytes: 128,
        });
        try {
          const got = feedAll(parser, split(Buffer.from(raw), cuts));
          // Each reply takes at least 3 bytes (type, CR, LF).
          assert.ok(got.length * 3 <= raw.length);
        } catch (err) {
          assert.ok(err instanceof RespProtocolError, String(err));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('parses a mutated valid stream without throwing anything unexpected', () => {
    fc.assert(
      fc.property(reply, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const bytes = Buffer.from(encodeReply(v));
        bytes[at % bytes.length] = byte;
        try {
          new RespParser().push(bytes);
        } catch (err) {
          assert.ok(err instanceof RespProtocolError, String(err));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('encodes commands as arrays of bulk strings, binary safe', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string(),
            fc.integer(),
            fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
          ),
          {
            maxLength: 8,
          },
        ),
        (args) => {
          const [parsed] = new RespParser().push(encodeCommand(args));
          const want = args.map((a) => (Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8')));
          assert.deepEqual(parsed, want);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
