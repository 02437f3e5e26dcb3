import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { globMatcher, parseSelect } from '../../src/metainfo/index.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { parseRange } from '../../src/web/stream.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

describe('selection and range parsers under random input', () => {
  it('--select gives indices in range or a one-line EUSAGE, never anything else', () => {
    const spec = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc
        .array(
          fc.oneof(
            fc.nat(40).map(String),
            fc.tuple(fc.nat(40), fc.nat(40)).map(([a, b]) => `${a}-${b}`),
          ),
          {
            maxLength: 6,
          },
        )
        .map((items) => items.join(',')),
    );
    fc.assert(
      fc.property(spec, fc.integer({ min: 0, max: 30 }), (text, count) => {
        try {
          const got = parseSelect(text, count);
          assert.ok(got.size > 0);
          for (const i of got) assert.ok(Number.isInteger(i) && i >= 0 && i < count);
        } catch (err) {
          assert.ok(isChunkswarmError(err, 'EUSAGE'), String(err));
          assert.ok(!(err as Error).message.includes('\n'));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a glob is a literal for paths without wildcards, and never throws on any pattern', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.string({ maxLength: 30 }), (glob, path) => {
        const m = globMatcher(glob);
        assert.equal(typeof m(path), 'boolean');
        if (!/[*?\\]/.test(glob)) {
          const subject = glob.includes('/') ? path : path.slice(path.lastIndexOf('/') + 1);
          assert.equal(m(path), subject === glob);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a Range header never throws and a partial answer lies inside the file', () => {
    const header = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc
        .tuple(fc.option(fc.nat(3000)), fc.option(fc.nat(3000)))
        .map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
    );
    fc.assert(
      fc.property(header, fc.nat(2000), (h, size) => {
        const r = parseRange(h, size);
        if (r.kind === 'partial')
          assert.ok(r.start >= 0 && r.start <= r.end && r.end < size, `${h} of ${size}`);
      }),
      { numRuns: RUNS },
    );
  });
});
