import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type BDict,
  DEFAULT_BENCODE_LIMITS,
  decode,
  decodeDictSpans,
  decodePrefix,
  dictGet,
  type Encodable,
  encode,
  getBytes,
  getDict,
  getInt,
  getList,
  getString,
  isDict,
} from '../../src/codec/index.js';
import { ChunkswarmError, type ErrorCode } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import { encodableArb, normalise } from './arbitraries.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ChunkswarmError, `expected ChunkswarmError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'), 'message is one line');
    return true;
  });
}

describe('bencode decode: known vectors', () => {
  test('integers', () => {
    assert.equal(decode(b('i0e')), 0);
    assert.equal(decode(b('i42e')), 42);
    assert.equal(decode(b('i-42e')), -42);
    assert.equal(decode(b(`i${Number.MAX_SAFE_INTEGER}e`)), Number.MAX_SAFE_INTEGER);
    assert.equal(decode(b(`i-${Number.MAX_SAFE_INTEGER}e`)), -Number.MAX_SAFE_INTEGER);
  });

  test('strings are byte views, including empty and binary ones', () => {
    assert.deepEqual(decode(b('4:spam')), b('spam'));
    assert.deepEqual(decode(b('0:')), Buffer.alloc(0));
    const bin = Buffer.from([0x33, 0x3a, 0x00, 0xff, 0x80]);
    assert.deepEqual(decode(bin), Buffer.from([0x00, 0xff, 0x80]));
    const input = b('5:hello');
    const out = decode(input) as Buffer;
    assert.equal(out.buffer, input.buffer, 'a view, not a copy');
  });

  test('lists and dictionaries (BEP 3 examples)', () => {
    assert.deepEqual(decode(b('l4:spam4:eggse')), [b('spam'), b('eggs')]);
    assert.deepEqual(decode(b('le')), []);
    assert.deepEqual(
      decode(b('d3:cow3:moo4:spam4:eggse')),
      new Map([
        ['cow', b('moo')],
        ['spam', b('eggs')],
      ]),
    );
    assert.deepEqual(decode(b('d4:spaml1:a1:bee')), new Map([['spam', [b('a'), b('b')]]]));
    assert.deepEqual(decode(b('de')), new Map());
    assert.deepEqual(decode(b('lli1eeldeee')), [[1], [new Map()]]);
  });

  test('dict keys are raw bytes as latin1, and re-encode losslessly', () => {
    const input = Buffer.concat([b('d2:'), Buffer.from([0xc3, 0xa9]), b('i1ee')]);
    const d = decode(input) as BDict;
    assert.deepEqual([...d.keys()], ['\u00c3\u00a9']);
    assert.equal(dictGet(d, 'é'), 1, 'dictGet takes an ordinary string');
    assert.deepEqual(encode(d), input);
  });

  test('accepts a plain Uint8Array', () => {
    assert.equal(decode(new Uint8Array(b('i7e'))), 7);
    const sub = new Uint8Array(b('xxi7exx')).subarray(2, 5);
    assert.equal(decode(sub), 7);
  });

  test('unsorted keys are accepted when strictKeyOrder is false, duplicates never', () => {
    const d = decode(b('d1:bi1e1:ai2ee'), { strictKeyOrder: false }) as BDict;
    assert.deepEqual(
      [...d.entries()],
      [
        ['b', 1],
        ['a', 2],
      ],
    );
    throwsCode(() => decode(b('d1:bi1e1:ai2e1:bi3ee'), { strictKeyOrder: false }), 'EBENCODE_KEY_ORDER');
  });

  test('key order compares raw bytes, not string order', () => {
    // 0x7f sorts before 0x80 and a prefix sorts first.
    decode(Buffer.concat([b('d1:'), Buffer.from([0x7f]), b('i1e1:'), Buffer.from([0x80]), b('i2ee')]));
    decode(b('d1:ai1e2:aai2ee'));
    throwsCode(() => decode(b('d2:aai1e1:ai2ee')), 'EBENCODE_KEY_ORDER');
  });
});

describe('bencode decode: every error code', () => {
  const cases: [string, ErrorCode][] = [
    ['', 'EBENCODE_TRUNCATED'],
    ['i12', 'EBENCODE_TRUNCATED'],
    ['i', 'EBENCODE_TRUNCATED'],
    ['l', 'EBENCODE_TRUNCATED'],
    ['li1e', 'EBENCODE_TRUNCATED'],
    ['d1:a', 'EBENCODE_TRUNCATED'],
    ['d', 'EBENCODE_TRUNCATED'],
    ['1', 'EBENCODE_TRUNCATED'],
    ['12', 'EBENCODE_LENGTH'],
    ['x', 'EBENCODE_SYNTAX'],
    ['e', 'EBENCODE_SYNTAX'],
    ['di1ei2ee', 'EBENCODE_SYNTAX'],
    ['dlee', 'EBENCODE_SYNTAX'],
    ['d1:ae', 'EBENCODE_SYNTAX'],
    ['3x:abc', 'EBENCODE_SYNTAX'],
    ['03:abc', 'EBENCODE_SYNTAX'],
    ['00:', 'EBENCODE_SYNTAX'],
    ['-3:abc', 'EBENCODE_SYNTAX'],
    ['5:abc', 'EBENCODE_LENGTH'],
    ['99999999999999999999999:abc', 'EBENCODE_LENGTH'],
    ['ie', 'EBENCODE_INT'],
    ['i-e', 'EBENCODE_INT'],
    ['i-0e', 'EBENCODE_INT'],
    ['i03e', 'EBENCODE_INT'],
    ['i-03e', 'EBENCODE_INT'],
    ['i00e', 'EBENCODE_INT'],
    ['i1.5e', 'EBENCODE_INT'],
    ['i+1e', 'EBENCODE_INT'],
    ['i--1e', 'EBENCODE_INT'],
    [`i${Number.MAX_SAFE_INTEGER + 1}e`, 'EBENCODE_INT'],
    ['i99999999999999999999999999e', 'EBENCODE_INT'],
    ['d1:bi1e1:ai2ee', 'EBENCODE_KEY_ORDER'],
    ['d1:ai1e1:ai2ee', 'EBENCODE_KEY_ORDER'],
    ['i1ei2e', 'EBENCODE_TRAILING'],
    ['lee', 'EBENCODE_TRAILING'],
    ['0: ', 'EBENCODE_TRAILING'],
  ];
  for (const [input, code] of cases) {
    test(`${JSON.stringify(input)} -> ${code}`, () => throwsCode(() => decode(b(input)), code));
  }

  test('EBENCODE_DEPTH at maxDepth + 1, fine at maxDepth', () => {
    const nest = (n: number) => b('l'.repeat(n) + 'e'.repeat(n));
    decode(nest(DEFAULT_BENCODE_LIMITS.maxDepth));
    throwsCode(() => decode(nest(DEFAULT_BENCODE_LIMITS.maxDepth + 1)), 'EBENCODE_DEPTH');
    throwsCode(() => decode(b('llee'), { maxDepth: 1 }), 'EBENCODE_DEPTH');
  });

  test('very deep nesting never blows the stack, even with a huge maxDepth', () => {
    const n = 200_000;
    const deep = b('l'.repeat(n) + 'e'.repeat(n));
    let v = decode(deep, { maxDepth: Number.POSITIVE_INFINITY });
    let depth = 0;
    while (Array.isArray(v) && v.length > 0) {
      v = v[0]!;
      depth++;
    }
    assert.equal(depth, n - 1);
    throwsCode(() => decode(b('l'.repeat(n))), 'EBENCODE_DEPTH');
  });

  test('EBENCODE_TOKENS counts every value', () => {
    decode(b('li1ei2ee'), { maxTokens: 3 });
    throwsCode(() => decode(b('li1ei2ee'), { maxTokens: 2 }), 'EBENCODE_TOKENS');
    decode(b('d1:ai1ee'), { maxTokens: 3 });
    throwsCode(() => decode(b('d1:ai1ee'), { maxTokens: 2 }), 'EBENCODE_TOKENS');
  });

  test('EBENCODE_LENGTH: input larger than maxBytes', () => {
    decode(b('4:spam'), { maxBytes: 6 });
    throwsCode(() => decode(b('4:spam'), { maxBytes: 5 }), 'EBENCODE_LENGTH');
  });

  test('a huge claimed length is refused before anything is allocated', () => {
    // 2^53-ish claims over a tiny buffer: the claim is checked against what remains.
    throwsCode(() => decode(b('9007199254740991:x')), 'EBENCODE_LENGTH');
    throwsCode(() => decode(b('4294967296:x')), 'EBENCODE_LENGTH');
    throwsCode(() => decodePrefix(b('d1:a100:xe'), { maxBytes: 20 }), 'EBENCODE_LENGTH');
  });

  test('non-bytes input is refused with a ChunkswarmError', () => {
    throwsCode(() => decode('i1e' as unknown as Uint8Array), 'EBENCODE_SYNTAX');
  });
});

describe('decodePrefix', () => {
  test('returns the value and the bytes it took; the rest is left alone (BEP 9)', () => {
    const input = Buffer.concat([b('d8:msg_typei1e5:piecei0ee'), Buffer.from([1, 2, 3, 0xff])]);
    const { value, length } = decodePrefix(input);
    assert.equal(length, input.length - 4);
    assert.ok(isDict(value));
    assert.equal(dictGet(value, 'piece'), 0);
  });

  test('maxBytes bounds the value, not the whole input', () => {
    const input = Buffer.concat([b('d1:ai1ee'), Buffer.alloc(100)]);
    assert.equal(decodePrefix(input, { maxBytes: 8 }).length, 8);
    throwsCode(() => decodePrefix(input, { maxBytes: 7 }), 'EBENCODE_LENGTH');
  });

  test('an incomplete value is truncated', () => {
    throwsCode(() => decodePrefix(b('d1:ai1e')), 'EBENCODE_TRUNCATED');
  });
});

describe('decodeDictSpans', () => {
  test('gives the exact byte range of each top-level value', () => {
    const input = b('d8:announce3:url4:infod6:lengthi5e4:name1:xe1:zli1eee');
    const { value, spans } = decodeDictSpans(input);
    const info = spans.get('info')!;
    assert.equal(input.subarray(info.start, info.end).toString('latin1'), 'd6:lengthi5e4:name1:xe');
    const ann = spans.get('announce')!;
    assert.equal(input.subarray(ann.start, ann.end).toString('latin1'), '3:url');
    const z = spans.get('z')!;
    assert.equal(input.subarray(z.start, z.end).toString('latin1'), 'li1ee');
    assert.equal(spans.size, 3);
    assert.ok(isDict(dictGet(value, 'info')));
  });

  test('spans match encode(value) for any dictionary', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), encodableArb(2)), (obj) => {
        const input = encode(obj);
        const { value, spans } = decodeDictSpans(input);
        for (const [key, span] of spans) {
          assert.deepEqual(input.subarray(span.start, span.end), encode(value.get(key)!));
        }
        assert.equal(spans.size, value.size);
      }),
      { numRuns: 100 },
    );
  });

  test('top level must be a dictionary', () => {
    throwsCode(() => decodeDictSpans(b('li1ee')), 'EBENCODE_SYNTAX');
    throwsCode(() => decodeDictSpans(b('i1e')), 'EBENCODE_SYNTAX');
    throwsCode(() => decodeDictSpans(b('')), 'EBENCODE_TRUNCATED');
    throwsCode(() => decodeDictSpans(b('dexx')), 'EBENCODE_TRAILING');
  });

  test('honours strictKeyOrder and still refuses duplicates', () => {
    const { value } = decodeDictSpans(b('d1:bi1e1:ai2ee'), { strictKeyOrder: false });
    assert.equal(value.size, 2);
    throwsCode(() => decodeDictSpans(b('d1:bi1e1:ai2ee')), 'EBENCODE_KEY_ORDER');
    throwsCode(() => decodeDictSpans(b('d1:ai1e1:ai2ee'), { strictKeyOrder: false }), 'EBENCODE_KEY_ORDER');
  });
});

describe('encode', () => {
  test('known vectors', () => {
    assert.equal(encode(0).toString(), 'i0e');
    assert.equal(encode(-0).toString(), 'i0e');
    assert.equal(encode(-17).toString(), 'i-17e');
    assert.equal(encode(12345678901234567890n).toString(), 'i12345678901234567890e');
    assert.equal(encode('spam').toString(), '4:spam');
    assert.equal(encode('').toString(), '0:');
    assert.deepEqual(encode('é'), Buffer.from([0x32, 0x3a, 0xc3, 0xa9]));
    assert.equal(encode(new Uint8Array([0x61, 0x62])).toString(), '2:ab');
    assert.equal(encode([1, 'a', []]).toString(), 'li1e1:alee');
    assert.equal(encode({}).toString(), 'de');
  });

  test('sorts keys by raw bytes and skips undefined values', () => {
    assert.equal(
      encode({ zeta: 1, alpha: 2, a: 3, skip: undefined }).toString(),
      'd1:ai3e5:alphai2e4:zetai1ee',
    );
    assert.equal(
      encode(
        new Map([
          ['b', 1],
          ['a', 2],
        ]),
      ).toString(),
      'd1:ai2e1:bi1ee',
    );
    // UTF-8 bytes: 'é' (c3 a9) sorts after 'z' (7a), though both are single chars.
    assert.deepEqual(
      encode({ é: 1, z: 2 }),
      Buffer.concat([b('d1:zi2e2:'), Buffer.from([0xc3, 0xa9]), b('i1ee')]),
    );
    // Sorting by UTF-16 code units would put U+FF61 after U+1F600's surrogates; bytes put it first.
    const emoji = '\u{1F600}';
    const half = '\uFF61';
    const enc = encode({ [emoji]: 1, [half]: 2 });
    assert.ok(enc.indexOf(Buffer.from(half)) < enc.indexOf(Buffer.from(emoji)));
  });

  test('refuses what bencode cannot hold', () => {
    throwsCode(() => encode(1.5), 'EBENCODE_INT');
    throwsCode(() => encode(Number.NaN), 'EBENCODE_INT');
    throwsCode(() => encode(Number.MAX_SAFE_INTEGER + 1), 'EBENCODE_INT');
    throwsCode(() => encode(true as unknown as Encodable), 'EBENCODE_SYNTAX');
    throwsCode(() => encode(null as unknown as Encodable), 'EBENCODE_SYNTAX');
    throwsCode(() => encode({ '\uD800': 1, '\uDC00': 2 }), 'EBENCODE_KEY_ORDER');
    const cyclic: Encodable[] = [];
    cyclic.push(cyclic);
    throwsCode(() => encode(cyclic), 'EBENCODE_DEPTH');
  });
});

describe('typed accessors', () => {
  const d = decode(b('d1:di1e1:ii7e1:lli1ee1:s3:abc2:u82:\xc3\xa9e')) as BDict;

  test('return the value when the type is right, undefined when absent', () => {
    assert.equal(getInt(d, 'i', 'EMETAINFO'), 7);
    assert.deepEqual(getBytes(d, 's', 'EMETAINFO'), b('abc'));
    assert.equal(getString(d, 's', 'EMETAINFO'), 'abc');
    assert.equal(getString(d, 'u8', 'EMETAINFO'), 'é');
    assert.deepEqual(getList(d, 'l', 'EMETAINFO'), [1]);
    assert.equal(getInt(d, 'missing', 'EMETAINFO'), undefined);
    assert.equal(getBytes(d, 'missing', 'EMETAINFO'), undefined);
    assert.equal(getString(d, 'missing', 'EMETAINFO'), undefined);
    assert.equal(getDict(d, 'missing', 'EMETAINFO'), undefined);
    assert.equal(getList(d, 'missing', 'EMETAINFO'), undefined);
    assert.equal(isDict(d), true);
    assert.equal(isDict([]), false);
    assert.equal(isDict(undefined), false);
  });

  test('throw the caller code with a message naming the key', () => {
    assert.throws(
      () => getInt(d, 's', 'EMETAINFO'),
      (e: unknown) =>
        e instanceof ChunkswarmError && e.code === 'EMETAINFO' && e.message === "'s' must be an integer",
    );
    throwsCode(() => getBytes(d, 'i', 'ETRACKER_RESPONSE'), 'ETRACKER_RESPONSE');
    throwsCode(() => getString(d, 'l', 'EMETAINFO'), 'EMETAINFO');
    throwsCode(() => getDict(d, 'd', 'EMETAINFO'), 'EMETAINFO');
    throwsCode(() => getList(d, 's', 'EMETAINFO'), 'EMETAINFO');
  });
});

describe('round trips', () => {
  test('encode -> decode gives the same value back', () => {
    fc.assert(
      fc.property(encodableArb(4), (v) => {
        assert.deepEqual(decode(encode(v), { maxDepth: 100 }), normalise(v));
      }),
      { numRuns: 500 },
    );
  });

  test('decode -> encode gives the same bytes back', () => {
    fc.assert(
      fc.property(encodableArb(4), (v) => {
        const bytes = encode(v);
        assert.deepEqual(encode(decode(bytes) as Encodable), bytes);
      }),
      { numRuns: 500 },
    );
  });

  test('decodePrefix length equals the encoding length whatever follows', () => {
    fc.assert(
      fc.property(encodableArb(3), fc.uint8Array({ maxLength: 20 }), (v, tail) => {
        const bytes = encode(v);
        const { length } = decodePrefix(Buffer.concat([bytes, tail]));
        assert.equal(length, bytes.length);
      }),
      { numRuns: 300 },
    );
  });
});

test('decoding a 16 MiB torrent-shaped document works (pieces string as a view)', () => {
  const pieces = Buffer.alloc(LIMITS.metainfoBytes - 200, 7);
  const input = Buffer.concat([
    b(`d4:infod6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces${pieces.length}:`),
    pieces,
    b('ee'),
  ]);
  assert.ok(input.length <= LIMITS.metainfoBytes);
  const { value, spans } = decodeDictSpans(input);
  const info = getDict(value, 'info', 'EMETAINFO')!;
  const p = getBytes(info, 'pieces', 'EMETAINFO')!;
  assert.equal(p.length, pieces.length);
  assert.equal(p.buffer, input.buffer);
  assert.equal(spans.get('info')!.end, input.length - 1);
});
