/** fast-check generators shared by the bencode unit tests and the fuzz tests. */
import fc from 'fast-check';
import type { BValue, Encodable } from '../../src/codec/index.js';

/** Arbitrary Encodable values (without undefined values, which encode drops). */
export function encodableArb(maxDepth: number): fc.Arbitrary<Encodable> {
  const { tree } = fc.letrec<{ tree: Encodable }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', maxDepth },
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.string({ unit: 'binary' }),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(tie('tree'), { maxLength: 5 }),
      fc.dictionary(fc.string({ unit: 'grapheme-ascii' }), tie('tree'), { maxKeys: 5 }),
      fc
        .uniqueArray(fc.tuple(fc.uint8Array({ maxLength: 6 }), tie('tree')), {
          maxLength: 5,
          selector: ([k]) => Buffer.from(k).toString('latin1'),
        })
        .map((entries) => new Map(entries.map(([k, v]) => [Buffer.from(k).toString('latin1'), v]))),
    ),
  }));
  return tree;
}

/** What `decode` should produce for a value: strings become bytes, objects become Maps. */
export function normalise(v: Encodable): BValue {
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) return (v as readonly Encodable[]).map(normalise);
  const entries: [Buffer, BValue][] = [];
  if (v instanceof Map) {
    for (const [k, x] of v as ReadonlyMap<string, Encodable>)
      entries.push([Buffer.from(k, 'latin1'), normalise(x)]);
  } else {
    for (const [k, x] of Object.entries(v as Record<string, Encodable | undefined>)) {
      if (x !== undefined) entries.push([Buffer.from(k, 'utf8'), normalise(x)]);
    }
  }
  entries.sort((x, y) => Buffer.compare(x[0], y[0]));
  return new Map(entries.map(([k, x]) => [k.toString('latin1'), x]));
}
