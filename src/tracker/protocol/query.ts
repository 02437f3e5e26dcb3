/**
 * Byte-wise query-string decoding. Trackers must not run the query through a text decoder:
 * `info_hash` and `peer_id` are 20 raw bytes that clients send as `%xx` escapes or as literal
 * characters (BEP 3), and a UTF-8 decode would corrupt every byte above 0x7f.
 *
 * Node's HTTP parser hands the request target over as a latin1 string, one character per byte,
 * so a character code is the byte. A string built elsewhere may hold characters above 0xff; those
 * are taken as their UTF-8 bytes, which is what a browser or `fetch` would have sent.
 */

/** Bytes of `raw[start, end)`, `%xx` decoded; `+` becomes a space when `plusIsSpace`. Undefined on a bad escape. */
export function decodeComponent(
  raw: string,
  start: number,
  end: number,
  plusIsSpace: boolean,
): Buffer | undefined {
  let text = raw;
  let from = start;
  let to = end;
  for (let i = start; i < end; i++) {
    if (raw.charCodeAt(i) > 0xff) {
      text = Buffer.from(raw.slice(start, end), 'utf8').toString('latin1');
      from = 0;
      to = text.length;
      break;
    }
  }
  // Never larger than the input: an escape shrinks three characters into one byte.
  const out = Buffer.allocUnsafe(to - from);
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (i + 2 >= to || hi < 0 || lo < 0) return undefined;
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c === 0x2b && plusIsSpace) {
      out[n++] = 0x20;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/** Like decodeComponent, as a latin1 string (one character per byte): for keys and ASCII values. */
export function decodeLatin1(
  raw: string,
  start: number,
  end: number,
  plusIsSpace: boolean,
): string | undefined {
  // Most keys and values need no decoding at all; skip the Buffer for them.
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 || c > 0xff || (c === 0x2b && plusIsSpace)) {
      plain = false;
      break;
    }
  }
  if (plain) return raw.slice(start, end);
  return decodeComponent(raw, start, end, plusIsSpace)?.toString('latin1');
}

/**
 * Parses a non-negative decimal integer no larger than Number.MAX_SAFE_INTEGER from
 * `raw[start, end)`; -1 when it is anything else (empty, signed, fractional, escaped, too big).
 * Clients write numbers as plain digits, so escapes are not worth accepting here.
 */
export function parseDecimal(raw: string, start: number, end: number): number {
  const len = end - start;
  if (len <= 0 || len > 16) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = raw.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value <= Number.MAX_SAFE_INTEGER ? value : -1;
}

/**
 * Calls `onParam(key, valueStart, valueEnd)` for each `key=value` of a raw query (without the `?`),
 * in order. A parameter without `=` has an empty value. Keys are decoded (some clients escape `_`).
 */
export function forEachParam(
  raw: string,
  onParam: (key: string, start: number, end: number) => void,
): boolean {
  return forEachRawParam(raw, (keyStart, keyEnd, start, end) => {
    const key = decodeLatin1(raw, keyStart, keyEnd, true);
    if (key === undefined) return false;
    onParam(key, start, end);
    return true;
  });
}

/**
 * Calls `onParam(keyStart, keyEnd, valueStart, valueEnd)` for each `key=value` of a raw query, in
 * order, with nothing decoded; stops and returns false as soon as `onParam` returns false.
 */
export function forEachRawParam(
  raw: string,
  onParam: (keyStart: number, keyEnd: number, start: number, end: number) => boolean,
): boolean {
  let pos = 0;
  const len = raw.length;
  while (pos <= len) {
    let amp = raw.indexOf('&', pos);
    if (amp < 0) amp = len;
    if (amp > pos) {
      let eq = raw.indexOf('=', pos);
      if (eq < 0 || eq > amp) eq = amp;
      if (!onParam(pos, eq, eq < amp ? eq + 1 : amp, amp)) return false;
    }
    pos = amp + 1;
  }
  return true;
}

/** Percent-encodes bytes for a query: RFC 3986 unreserved characters stay, every other byte is `%XX`. */
export function encodeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const unreserved =
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d ||
      b === 0x2e ||
      b === 0x5f ||
      b === 0x7e;
    out += unreserved ? String.fromCharCode(b) : HEX_ESCAPES[b]!;
  }
  return out;
}

const HEX_ESCAPES: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
);

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
