/**
 * The head of an HTTP/1.x request, read just far enough to route it. The tracker answers
 * `/announce` and `/scrape` itself (its hot path, where Node's HTTP server costs more than the
 * announce) and hands every other request, bytes and all, to a full HTTP server. Pure: bytes in,
 * a decision out.
 *
 * Each byte is looked at once however the request is split, so a client that drips its request a
 * byte at a time costs no more to read than one that sends it whole.
 */
import { LIMITS } from '../../shared/limits.js';

export type HeadDecision =
  /** Not enough bytes yet. */
  | { readonly kind: 'more' }
  /** Answer with this failure reason and close. */
  | { readonly kind: 'refuse'; readonly reason: string }
  /** A complete request head for the tracker: request line parsed, headers skipped. */
  | {
      readonly kind: 'tracker';
      readonly method: string;
      readonly path: '/announce' | '/scrape';
      /** The raw query after `?` (not decoded), one character per byte; '' when there is none. */
      readonly query: string;
      /** Bytes of the head, blank line included; anything after it is not part of this request. */
      readonly headBytes: number;
    }
  /** A well-formed request line for another path: hand all bytes read so far to an HTTP server. */
  | { readonly kind: 'other' };

const MORE: HeadDecision = { kind: 'more' };
const OTHER: HeadDecision = { kind: 'other' };

export const MALFORMED_REQUEST = 'malformed HTTP request';

export function tooLargeReason(maxBytes: number): string {
  return `request too large (the limit is ${maxBytes} bytes)`;
}

// Request-line states (RFC 9112 section 3: method SP request-target SP HTTP-version CRLF).
const LEADING = 0;
const METHOD = 1;
const TARGET = 2;
const VERSION = 3;
const LINE_CR = 4;
const HEADERS = 5;

const VERSION_PREFIX = 'HTTP/1.';

/** RFC 9110 tchar: the bytes a method (a token) may hold. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

const ANNOUNCE = Buffer.from('/announce', 'latin1');
const SCRAPE = Buffer.from('/scrape', 'latin1');
const GET = Buffer.from('GET', 'latin1');

function sameBytes(buf: Buffer, at: number, want: Buffer): boolean {
  for (let i = 0; i < want.length; i++) if (buf[at + i] !== want[i]) return false;
  return true;
}

/**
 * Reads one request head fed in arbitrary pieces. `push` returns `more` until it can decide, then
 * the decision; after a decision it must not be fed again. `bytes()` gives everything pushed so far
 * (what a hand-over must replay).
 *
 * Bytes above 0x7f are accepted in the target: BEP 3 wants `info_hash` escaped, but some clients
 * send raw bytes, and the query decoder takes each byte as it is. Control bytes are refused.
 */
export class RequestHeadReader {
  readonly #max: number;
  /** Bytes so far: the first chunk as given, copied into a capped buffer once a second one comes. */
  #buf: Buffer | undefined;
  #len = 0;
  #state = LEADING;
  #methodStart = 0;
  #methodEnd = 0;
  #targetStart = 0;
  #targetEnd = 0;
  #versionLen = 0;
  #minor = -1;
  /** Where the header section starts (just after the request line's LF). */
  #headersStart = 0;
  /** Bytes of the header section already searched for the blank line. */
  #searched = 0;

  constructor(maxBytes: number = LIMITS.trackerRequestBytes) {
    this.#max = maxBytes;
  }

  /** Everything pushed so far. */
  bytes(): Buffer {
    return this.#buf === undefined ? Buffer.alloc(0) : this.#buf.subarray(0, this.#len);
  }

  push(chunk: Buffer): HeadDecision {
    const from = this.#len;
    if (this.#buf === undefined) {
      this.#buf = chunk;
      this.#len = chunk.length;
    } else {
      // Room for the cap at once, so a request dripped byte by byte is copied once. A push only
      // follows a `more`, so at most one chunk ever lies past the cap (and a hand-over needs it).
      const need = this.#len + chunk.length;
      if (this.#buf.length < need) {
        const grown = Buffer.allocUnsafe(Math.max(need, this.#max + 1));
        this.#buf.copy(grown, 0, 0, this.#len);
        this.#buf = grown;
      }
      chunk.copy(this.#buf, this.#len);
      this.#len = need;
    }
    if (this.#state !== HEADERS) {
      const verdict = this.#scanLine(from);
      if (verdict !== undefined) return verdict;
      if (this.#state !== HEADERS) return this.#len > this.#max ? this.#tooLarge() : MORE;
    }
    return this.#scanHeaders();
  }

  /** Walks the request line from `from`; a decision, or undefined to go on. */
  #scanLine(from: number): HeadDecision | undefined {
    const buf = this.#buf!;
    const end = Math.min(this.#len, this.#max + 1);
    let state = this.#state;
    for (let i = from; i < end; i++) {
      const c = buf[i]!;
      switch (state) {
        case LEADING:
          // RFC 9112 2.2: a server should ignore empty lines before the request line.
          if (c === 0x0d || c === 0x0a) continue;
          if (TCHAR[c] !== 1) return this.#malformed();
          this.#methodStart = i;
          state = METHOD;
          break;
        case METHOD:
          if (c === 0x20) {
            this.#methodEnd = i;
            this.#targetStart = i + 1;
            state = TARGET;
          } else if (TCHAR[c] !== 1) return this.#malformed();
          break;
        case TARGET:
          if (c === 0x20) {
            if (i === this.#targetStart) return this.#malformed();
            this.#targetEnd = i;
            state = VERSION;
          } else if (c === 0x0d || c === 0x0a) {
            // `GET /path` and the line ends: a request from before HTTP/1.0.
            this.#state = state;
            return { kind: 'refuse', reason: 'HTTP/0.9 is not supported: send HTTP/1.0 or HTTP/1.1' };
          } else if (c < 0x21 || c === 0x7f) return this.#malformed();
          else {
            // The target is most of an announce's request line: its ordinary bytes are skipped
            // in a loop of their own rather than one trip through the switch each.
            while (i + 1 < end) {
              const d = buf[i + 1]!;
              if (d < 0x21 || d === 0x7f) break;
              i++;
            }
          }
          break;
        case VERSION:
          if (this.#versionLen < VERSION_PREFIX.length) {
            // Not even `HTTP/`: not HTTP at all. `HTTP/2`, `HTTP/1.2`: HTTP we do not speak.
            if (c !== VERSION_PREFIX.charCodeAt(this.#versionLen)) {
              return this.#versionLen < 5 ? this.#malformed() : this.#badVersion();
            }
          } else if (this.#versionLen === VERSION_PREFIX.length) {
            if (c !== 0x30 && c !== 0x31) return this.#badVersion();
            this.#minor = c - 0x30;
          } else if (c === 0x0d) {
            state = LINE_CR;
            break;
          } else if (c === 0x0a) {
            this.#headersStart = i + 1;
            state = HEADERS;
            break;
          } else return this.#malformed();
          this.#versionLen++;
          break;
        case LINE_CR:
          if (c !== 0x0a) return this.#malformed();
          this.#headersStart = i + 1;
          state = HEADERS;
          break;
      }
      if (state === HEADERS) {
        if (this.#minor < 0) return this.#badVersion();
        this.#state = state;
        const path = this.#path();
        if (path === undefined) return OTHER;
        this.#searched = this.#headersStart;
        return undefined;
      }
    }
    this.#state = state;
    return undefined;
  }

  /** The tracker path the target names, or undefined for any other path. */
  #path(): '/announce' | '/scrape' | undefined {
    const buf = this.#buf!;
    const start = this.#targetStart;
    const q = this.#queryMark();
    const stop = q < 0 ? this.#targetEnd : q;
    // Compared byte by byte where they lie: no string per request just to route it.
    if (stop - start === ANNOUNCE.length && sameBytes(buf, start, ANNOUNCE)) return '/announce';
    if (stop - start === SCRAPE.length && sameBytes(buf, start, SCRAPE)) return '/scrape';
    return undefined;
  }

  /** Where the target's `?` is, or -1. */
  #queryMark(): number {
    const buf = this.#buf!;
    for (let i = this.#targetStart; i < this.#targetEnd; i++) if (buf[i] === 0x3f) return i;
    return -1;
  }

  /** Looks for the blank line that ends the head; each byte is searched once. */
  #scanHeaders(): HeadDecision {
    const buf = this.#buf!;
    const limit = Math.min(this.#len, this.#max + 1);
    // A line break in the header section, then an empty line: "\n\n" or "\n\r\n". The head may
    // also end right after the request line (no headers), which the request line's LF begins.
    const from = Math.max(this.#headersStart - 1, this.#searched - 2);
    let end = -1;
    for (let i = from; i < limit; i++) {
      if (buf[i] !== 0x0a) continue;
      if (i + 1 < limit && buf[i + 1] === 0x0a) {
        end = i + 2;
        break;
      }
      if (i + 2 < limit && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) {
        end = i + 3;
        break;
      }
    }
    this.#searched = limit;
    if (end < 0 || end > this.#max) return this.#len > this.#max ? this.#tooLarge() : MORE;
    const q = this.#queryMark();
    const query = q >= 0 ? buf.toString('latin1', q + 1, this.#targetEnd) : '';
    const methodLen = this.#methodEnd - this.#methodStart;
    return {
      kind: 'tracker',
      method:
        methodLen === 3 && sameBytes(buf, this.#methodStart, GET)
          ? 'GET'
          : buf.toString('latin1', this.#methodStart, this.#methodEnd),
      path: this.#path()!,
      query,
      headBytes: end,
    };
  }

  #malformed(): HeadDecision {
    return { kind: 'refuse', reason: MALFORMED_REQUEST };
  }

  #badVersion(): HeadDecision {
    return { kind: 'refuse', reason: 'unsupported HTTP version: send HTTP/1.0 or HTTP/1.1' };
  }

  #tooLarge(): HeadDecision {
    return { kind: 'refuse', reason: tooLargeReason(this.#max) };
  }
}
