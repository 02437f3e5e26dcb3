/**
 * Bencode (BEP 3) with limits. The decoder is iterative (an explicit stack), so no input can blow
 * the JS stack whatever `maxDepth` a caller picks, and it checks every length field against what
 * is left of the input before it slices anything. Decoded strings are views into the input.
 */
import { ChunkswarmError, type ErrorCode } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';

export type BValue = number | Buffer | BValue[] | BDict;
/** Keys are the raw key bytes read as 'latin1', which maps each byte to one char and back losslessly. */
export type BDict = Map<string, BValue>;

export interface BencodeLimits {
  /** Deepest nesting of lists and dictionaries. */
  maxDepth: number;
  /** Most values (integers, strings, lists, dictionaries) in one document. */
  maxTokens: number;
  /** Largest encoded value, in bytes. */
  maxBytes: number;
  /** BEP 3 requires dictionary keys sorted by raw bytes; real torrents sometimes are not. */
  strictKeyOrder: boolean;
}

export const DEFAULT_BENCODE_LIMITS: BencodeLimits = Object.freeze({
  maxDepth: LIMITS.bencodeDepth,
  maxTokens: LIMITS.bencodeTokens,
  maxBytes: LIMITS.metainfoBytes,
  strictKeyOrder: true,
});

const CH_0 = 0x30;
const CH_9 = 0x39;
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_D = 0x64;
const CH_E = 0x65;
const CH_I = 0x69;
const CH_L = 0x6c;

interface ListFrame {
  readonly list: BValue[];
  readonly dict: undefined;
}

interface DictFrame {
  readonly list: undefined;
  readonly dict: BDict;
  /** The key whose value is being read, or undefined when a key is expected next. */
  key: string | undefined;
  keyBytes: Buffer | undefined;
  /** The previous key's bytes, to check BEP 3's sorted order. */
  prevKey: Buffer | undefined;
  /** Where the value of `key` starts in the input. */
  valueStart: number;
}

type Frame = ListFrame | DictFrame;

type Span = { start: number; end: number };

function fail(code: ErrorCode, message: string): never {
  throw new ChunkswarmError(code, message);
}

function toBuffer(input: Uint8Array): Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (!(input instanceof Uint8Array)) fail('EBENCODE_SYNTAX', 'bencode input must be bytes');
  return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

function resolveLimits(limits: Partial<BencodeLimits> | undefined): BencodeLimits {
  if (!limits) return DEFAULT_BENCODE_LIMITS;
  const out = { ...DEFAULT_BENCODE_LIMITS };
  for (const key of ['maxDepth', 'maxTokens', 'maxBytes'] as const) {
    const v = limits[key];
    if (v !== undefined) out[key] = v;
  }
  if (limits.strictKeyOrder !== undefined) out.strictKeyOrder = limits.strictKeyOrder;
  return out;
}

/** A key as it can appear in a one-line message: printable ASCII kept, the rest escaped, long keys cut. */
function showKey(key: string): string {
  const cut = key.length > 64 ? `${key.slice(0, 64)}...` : key;
  return cut.replace(/[^\x20-\x7e]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function describeByte(b: number): string {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `byte 0x${b.toString(16).padStart(2, '0')}`;
}

/**
 * The decoder proper. `spans`, when given, receives the byte range of every value of the
 * top-level dictionary (used for the infohash, which is the SHA-1 of the exact `info` bytes).
 */
function decodeAt(
  buf: Buffer,
  lim: BencodeLimits,
  spans: Map<string, Span> | undefined,
): { value: BValue; length: number } {
  // Everything past `end` is out of reach: either the input stops there or maxBytes does.
  const end = Math.min(buf.length, Math.max(0, lim.maxBytes));
  const cappedByLimit = end < buf.length;
  const truncated = (what: string): never => {
    if (cappedByLimit)
      fail('EBENCODE_LENGTH', `bencoded value is larger than the ${lim.maxBytes}-byte limit`);
    fail('EBENCODE_TRUNCATED', `bencoded data ends in the middle of ${what}`);
  };

  const stack: Frame[] = [];
  let pos = 0;
  let tokens = 0;

  const countToken = (): void => {
    tokens++;
    if (tokens > lim.maxTokens) {
      fail('EBENCODE_TOKENS', `bencoded data has more than ${lim.maxTokens} values`);
    }
  };

  /** Reads `<len>:<bytes>` at `pos` (which holds a digit) and returns a view of the bytes. */
  const readString = (): Buffer => {
    countToken();
    const start = pos;
    let len = 0;
    while (true) {
      if (pos >= end) truncated('a string length');
      const c = buf[pos]!;
      if (c === CH_COLON) break;
      if (c < CH_0 || c > CH_9) {
        fail('EBENCODE_SYNTAX', `unexpected ${describeByte(c)} in a string length at offset ${pos}`);
      }
      if (pos > start && buf[start] === CH_0) {
        fail('EBENCODE_SYNTAX', `string length with a leading zero at offset ${start}`);
      }
      len = len * 10 + (c - CH_0);
      // Stop as soon as the claim exceeds what is left: nothing is allocated from it.
      if (len > end - start) {
        fail(
          'EBENCODE_LENGTH',
          cappedByLimit || len > lim.maxBytes
            ? `string at offset ${start} is longer than the ${lim.maxBytes}-byte limit`
            : `string at offset ${start} claims more bytes than the data holds`,
        );
      }
      pos++;
    }
    pos++; // ':'
    if (len > end - pos) {
      fail(
        'EBENCODE_LENGTH',
        cappedByLimit
          ? `string at offset ${start} is longer than the ${lim.maxBytes}-byte limit`
          : `string at offset ${start} claims ${len} bytes but only ${end - pos} remain`,
      );
    }
    const out = buf.subarray(pos, pos + len);
    pos += len;
    return out;
  };

  /** Reads `i<digits>e` at `pos` (which holds 'i'), refusing every non-canonical form (BEP 3). */
  const readInt = (): number => {
    countToken();
    const start = pos;
    pos++;
    if (pos >= end) truncated('an integer');
    const negative = buf[pos] === CH_MINUS;
    if (negative) pos++;
    const digitsStart = pos;
    let n = 0;
    while (true) {
      if (pos >= end) truncated('an integer');
      const c = buf[pos]!;
      if (c === CH_E) break;
      if (c < CH_0 || c > CH_9) {
        fail('EBENCODE_INT', `unexpected ${describeByte(c)} in the integer at offset ${start}`);
      }
      n = n * 10 + (c - CH_0);
      if (n > Number.MAX_SAFE_INTEGER) {
        fail('EBENCODE_INT', `integer at offset ${start} is too large`);
      }
      pos++;
    }
    const digits = pos - digitsStart;
    if (digits === 0) fail('EBENCODE_INT', `integer at offset ${start} has no digits`);
    if (buf[digitsStart] === CH_0 && (digits > 1 || negative)) {
      fail('EBENCODE_INT', `integer at offset ${start} is not canonical (leading zero or -0)`);
    }
    pos++; // 'e'
    return negative ? -n : n;
  };

  while (true) {
    if (pos >= end) truncated(stack.length === 0 ? 'a value' : 'a list or dictionary');
    const c = buf[pos]!;
    const top = stack[stack.length - 1];
    let value: BValue;

    if (c === CH_E) {
      if (top === undefined) fail('EBENCODE_SYNTAX', `unexpected 'e' at offset ${pos}`);
      if (top.dict !== undefined && top.key !== undefined) {
        fail('EBENCODE_SYNTAX', `dictionary key at offset ${pos} has no value`);
      }
      pos++;
      stack.pop();
      value = top.dict ?? top.list;
    } else if (top !== undefined && top.dict !== undefined && top.key === undefined) {
      // BEP 3: dictionary keys are byte strings.
      if (c < CH_0 || c > CH_9) {
        fail('EBENCODE_SYNTAX', `dictionary key at offset ${pos} is not a string`);
      }
      const keyBytes = readString();
      const key = keyBytes.toString('latin1');
      if (lim.strictKeyOrder && top.prevKey !== undefined) {
        const order = Buffer.compare(top.prevKey, keyBytes);
        if (order === 0) fail('EBENCODE_KEY_ORDER', `duplicate dictionary key '${showKey(key)}'`);
        if (order > 0) fail('EBENCODE_KEY_ORDER', `dictionary key '${showKey(key)}' is out of order`);
      } else if (top.dict.has(key)) {
        fail('EBENCODE_KEY_ORDER', `duplicate dictionary key '${showKey(key)}'`);
      }
      top.key = key;
      top.keyBytes = keyBytes;
      top.valueStart = pos;
      continue;
    } else if (c === CH_I) {
      value = readInt();
    } else if (c >= CH_0 && c <= CH_9) {
      value = readString();
    } else if (c === CH_L || c === CH_D) {
      countToken();
      if (stack.length >= lim.maxDepth) {
        fail('EBENCODE_DEPTH', `bencoded data is nested deeper than ${lim.maxDepth} levels`);
      }
      pos++;
      if (c === CH_L) {
        stack.push({ list: [], dict: undefined });
      } else {
        stack.push({
          list: undefined,
          dict: new Map(),
          key: undefined,
          keyBytes: undefined,
          prevKey: undefined,
          valueStart: pos,
        });
      }
      continue;
    } else {
      fail('EBENCODE_SYNTAX', `unexpected ${describeByte(c)} at offset ${pos}`);
    }

    // A value is complete: hand it to its container, or finish.
    const parent = stack[stack.length - 1];
    if (parent === undefined) return { value, length: pos };
    if (parent.list !== undefined) {
      parent.list.push(value);
    } else {
      const key = parent.key!;
      parent.dict.set(key, value);
      if (spans !== undefined && stack.length === 1) spans.set(key, { start: parent.valueStart, end: pos });
      parent.prevKey = parent.keyBytes;
      parent.key = undefined;
      parent.keyBytes = undefined;
    }
  }
}

/** Decodes exactly one value; bytes after it are an error. */
export function decode(input: Uint8Array, limits?: Partial<BencodeLimits>): BValue {
  const buf = toBuffer(input);
  const lim = resolveLimits(limits);
  if (buf.length > lim.maxBytes) {
    fail('EBENCODE_LENGTH', `bencoded data is ${buf.length} bytes, more than the ${lim.maxBytes}-byte limit`);
  }
  const { value, length } = decodeAt(buf, lim, undefined);
  if (length !== buf.length) {
    fail('EBENCODE_TRAILING', `${buf.length - length} unexpected bytes after the bencoded value`);
  }
  return value;
}

/**
 * Decodes one value at the start of `input` and says how many bytes it took. BEP 9 metadata
 * messages carry raw piece data right after a bencoded dictionary, so the rest is not an error.
 */
export function decodePrefix(
  input: Uint8Array,
  limits?: Partial<BencodeLimits>,
): { value: BValue; length: number } {
  return decodeAt(toBuffer(input), resolveLimits(limits), undefined);
}

/**
 * Decodes a document whose top level is a dictionary, and gives the byte range of each of its
 * values, so a caller can hash the exact `info` bytes instead of a re-encoding (BEP 3 infohash).
 */
export function decodeDictSpans(
  input: Uint8Array,
  limits?: Partial<BencodeLimits>,
): { value: BDict; spans: Map<string, { start: number; end: number }> } {
  const buf = toBuffer(input);
  const lim = resolveLimits(limits);
  if (buf.length > lim.maxBytes) {
    fail('EBENCODE_LENGTH', `bencoded data is ${buf.length} bytes, more than the ${lim.maxBytes}-byte limit`);
  }
  if (buf.length > 0 && buf[0] !== CH_D) {
    fail('EBENCODE_SYNTAX', 'bencoded data is not a dictionary');
  }
  const spans = new Map<string, Span>();
  const { value, length } = decodeAt(buf, lim, spans);
  if (length !== buf.length) {
    fail('EBENCODE_TRAILING', `${buf.length - length} unexpected bytes after the bencoded value`);
  }
  if (!isDict(value)) fail('EBENCODE_SYNTAX', 'bencoded data is not a dictionary');
  return { value, spans };
}

// ---------------------------------------------------------------------------------------------
// Encoding

export type Encodable =
  | number
  | bigint
  | string
  | Uint8Array
  | readonly Encodable[]
  | ReadonlyMap<string, Encodable>
  | { readonly [key: string]: Encodable | undefined };

/** Deep enough for any real document; a cycle runs into it instead of into a stack overflow. */
const MAX_ENCODE_DEPTH = 1000;

const ASCII_I = Buffer.from('i');
const ASCII_E = Buffer.from('e');
const ASCII_L = Buffer.from('l');
const ASCII_D = Buffer.from('d');

function pushBytes(out: Buffer[], bytes: Uint8Array): void {
  out.push(Buffer.from(`${bytes.length}:`, 'latin1'));
  out.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function encodeDict(out: Buffer[], entries: [Buffer, Encodable][], depth: number): void {
  // BEP 3: keys sorted as raw byte strings.
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  out.push(ASCII_D);
  for (let i = 0; i < entries.length; i++) {
    const [key, value] = entries[i]!;
    if (i > 0 && Buffer.compare(entries[i - 1]![0], key) === 0) {
      fail(
        'EBENCODE_KEY_ORDER',
        `two dictionary keys encode to the same bytes '${showKey(key.toString('latin1'))}'`,
      );
    }
    pushBytes(out, key);
    encodeInto(out, value, depth + 1);
  }
  out.push(ASCII_E);
}

function encodeInto(out: Buffer[], value: Encodable, depth: number): void {
  if (depth > MAX_ENCODE_DEPTH) {
    fail('EBENCODE_DEPTH', `value to encode is nested deeper than ${MAX_ENCODE_DEPTH} levels (a cycle?)`);
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      fail('EBENCODE_INT', `cannot bencode ${value}: only safe integers are allowed (use a bigint)`);
    }
    // Template literal gives "0" for -0, which is what bencode wants.
    out.push(Buffer.from(`i${value}e`, 'latin1'));
  } else if (typeof value === 'bigint') {
    out.push(ASCII_I, Buffer.from(value.toString(), 'latin1'), ASCII_E);
  } else if (typeof value === 'string') {
    pushBytes(out, Buffer.from(value, 'utf8'));
  } else if (value instanceof Uint8Array) {
    pushBytes(out, value);
  } else if (Array.isArray(value)) {
    out.push(ASCII_L);
    for (const item of value as readonly Encodable[]) encodeInto(out, item, depth + 1);
    out.push(ASCII_E);
  } else if (value instanceof Map) {
    const entries: [Buffer, Encodable][] = [];
    for (const [k, v] of value as ReadonlyMap<string, Encodable | undefined>) {
      if (typeof k !== 'string') fail('EBENCODE_SYNTAX', 'dictionary keys must be strings');
      if (v !== undefined) entries.push([Buffer.from(k, 'latin1'), v]);
    }
    encodeDict(out, entries, depth);
  } else if (typeof value === 'object' && value !== null) {
    const entries: [Buffer, Encodable][] = [];
    for (const k of Object.keys(value)) {
      const v = (value as { readonly [key: string]: Encodable | undefined })[k];
      if (v !== undefined) entries.push([Buffer.from(k, 'utf8'), v]);
    }
    encodeDict(out, entries, depth);
  } else {
    fail('EBENCODE_SYNTAX', `cannot bencode a value of type ${value === null ? 'null' : typeof value}`);
  }
}

/**
 * Encodes a value. Dictionary keys are sorted by their raw bytes (BEP 3): a plain object's keys
 * are taken as UTF-8, a Map's keys as latin1 (one byte per char, as `decode` produces them), so
 * a decoded document re-encodes to the same bytes. Undefined values are left out.
 */
export function encode(value: Encodable): Buffer {
  const out: Buffer[] = [];
  encodeInto(out, value, 0);
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// Typed access to decoded dictionaries

function dictKey(key: string): string {
  // Callers write keys as ordinary (UTF-8) strings; the map holds their raw bytes as latin1.
  // Plain ASCII reads the same either way, so skip the conversion for it.
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) > 0x7f) return Buffer.from(key, 'utf8').toString('latin1');
  }
  return key;
}

export function isDict(v: BValue | undefined): v is BDict {
  return v instanceof Map;
}

/** The value under `key` (written as an ordinary string), or undefined. */
export function dictGet(d: BDict, key: string): BValue | undefined {
  return d.get(dictKey(key));
}

export function getInt(d: BDict, key: string, code: ErrorCode): number | undefined {
  const v = dictGet(d, key);
  if (v === undefined || typeof v === 'number') return v;
  return fail(code, `'${key}' must be an integer`);
}

export function getBytes(d: BDict, key: string, code: ErrorCode): Buffer | undefined {
  const v = dictGet(d, key);
  if (v === undefined || Buffer.isBuffer(v)) return v;
  return fail(code, `'${key}' must be a string`);
}

/** The string under `key` read as UTF-8 (invalid sequences become U+FFFD, as other clients do). */
export function getString(d: BDict, key: string, code: ErrorCode): string | undefined {
  const v = getBytes(d, key, code);
  return v === undefined ? undefined : v.toString('utf8');
}

export function getDict(d: BDict, key: string, code: ErrorCode): BDict | undefined {
  const v = dictGet(d, key);
  if (v === undefined || isDict(v)) return v;
  return fail(code, `'${key}' must be a dictionary`);
}

export function getList(d: BDict, key: string, code: ErrorCode): BValue[] | undefined {
  const v = dictGet(d, key);
  if (v === undefined || Array.isArray(v)) return v;
  return fail(code, `'${key}' must be a list`);
}
