/**
 * RESP2, the protocol Redis speaks (https://redis.io/docs/latest/develop/reference/protocol-spec/):
 * commands go out as arrays of bulk strings, replies come back as one of five types. Pure: bytes
 * in, values out; the connection that carries them is in ./client.ts.
 *
 * The parser trusts nothing it reads: a length field is checked against a cap before anything is
 * allocated or waited for, and nesting is bounded, so a confused or hostile server cannot make the
 * tracker allocate without limit.
 */

/** An error reply (`-ERR ...`): a value, not a throw, since it answers one command of many. */
export class RespError {
  constructor(readonly message: string) {}
  /** The first word, which Redis uses as the error's kind (`ERR`, `NOSCRIPT`, `WRONGTYPE`...). */
  get kind(): string {
    const space = this.message.indexOf(' ');
    return space < 0 ? this.message : this.message.slice(0, space);
  }
}

/**
 * A reply: a simple string (`+OK`) as a string, a bulk string as a Buffer (Redis strings are
 * bytes), an integer as a number, a nil as null, an array of replies, or a RespError.
 */
export type RespValue = string | Buffer | number | null | RespError | RespValue[];

export interface RespLimits {
  /** Largest bulk string (Redis allows 512 MiB; nothing the tracker reads comes near that). */
  readonly maxBulkBytes: number;
  /** Most elements in one array. */
  readonly maxArrayLength: number;
  /** Arrays within arrays, at most. */
  readonly maxDepth: number;
  /** Longest line (type byte, simple string, error or length) before its CRLF. */
  readonly maxLineBytes: number;
}

export const DEFAULT_RESP_LIMITS: RespLimits = {
  maxBulkBytes: 64 * 1024 * 1024,
  maxArrayLength: 1 << 20,
  maxDepth: 8,
  maxLineBytes: 64 * 1024,
};

/** The server sent something that is not RESP2, or past a limit: the connection cannot go on. */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespProtocolError';
  }
}

/** One argument of a command: strings go as UTF-8, numbers in decimal. */
export type RespArg = string | Buffer | number;

/** A command as RESP2 puts it on the wire: an array of bulk strings. */
export function encodeCommand(args: readonly RespArg[]): Buffer {
  // Sized first, then written into one buffer: a command per announce, so no garbage per argument.
  const texts: (string | Buffer)[] = new Array(args.length);
  const lengths: number[] = new Array(args.length);
  let size = 3 + String(args.length).length;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let v: string | Buffer;
    if (typeof a === 'number') {
      if (!Number.isFinite(a)) throw new RangeError(`cannot send ${a} to Redis`);
      v = String(a);
    } else v = a;
    const n = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
    texts[i] = v;
    lengths[i] = n;
    size += 1 + String(n).length + 2 + n + 2;
  }
  const out = Buffer.allocUnsafe(size);
  let o = out.write(`*${args.length}\r\n`, 0, 'latin1');
  for (let i = 0; i < texts.length; i++) {
    const v = texts[i]!;
    o += out.write(`$${lengths[i]}\r\n`, o, 'latin1');
    o += typeof v === 'string' ? out.write(v, o, 'utf8') : v.copy(out, o);
    out[o++] = 0x0d;
    out[o++] = 0x0a;
  }
  return out;
}

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * A reply as a server would send it (the parser's inverse). The tracker never sends replies; the
 * fuzz tests use this to check that what is encoded parses back the same, however it is split.
 */
export function encodeReply(v: RespValue): Buffer {
  if (v === null) return Buffer.from('$-1\r\n', 'latin1');
  if (typeof v === 'number') return Buffer.from(`:${v}\r\n`, 'latin1');
  if (typeof v === 'string') return Buffer.from(`+${v}\r\n`, 'utf8');
  if (v instanceof RespError) return Buffer.from(`-${v.message}\r\n`, 'utf8');
  if (Buffer.isBuffer(v)) return Buffer.concat([Buffer.from(`$${v.length}\r\n`, 'latin1'), v, CRLF]);
  return Buffer.concat([Buffer.from(`*${v.length}\r\n`, 'latin1'), ...v.map(encodeReply)]);
}

/** Thrown inside the parser when the buffer ends mid-value; never escapes it. */
const INCOMPLETE = Symbol('incomplete');

/**
 * Turns a byte stream into replies. Feed it what the socket gives; it returns every reply that is
 * complete and keeps the rest for the next push. Throws RespProtocolError on bytes that are not
 * RESP2 or go past a limit; after that the stream is unusable.
 */
export class RespParser {
  readonly #limits: RespLimits;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  /** Bytes the buffer must hold before parsing is worth trying again (a long bulk string). */
  #need = 0;

  constructor(limits: Partial<RespLimits> = {}) {
    this.#limits = { ...DEFAULT_RESP_LIMITS, ...limits };
  }

  /** Bytes held for a reply not yet complete. */
  get buffered(): number {
    return this.#buf.length;
  }

  push(chunk: Buffer): RespValue[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: RespValue[] = [];
    if (this.#buf.length < this.#need) return out;
    this.#need = 0;
    while (this.#buf.length > 0) {
      this.#pos = 0;
      let v: RespValue;
      try {
        v = this.#value(0);
      } catch (err) {
        if (err === INCOMPLETE) break;
        throw err;
      }
      out.push(v);
      this.#buf = this.#buf.subarray(this.#pos);
    }
    // A reply that ended where a chunk did leaves nothing: release the chunk.
    if (this.#buf.length === 0) this.#buf = Buffer.alloc(0);
    return out;
  }

  #value(depth: number): RespValue {
    const type = this.#byte();
    const line = this.#line();
    switch (type) {
      case 0x2b: // +
        return line.toString('utf8');
      case 0x2d: // -
        return new RespError(line.toString('utf8'));
      case 0x3a: // :
        return this.#integer(line, Number.MIN_SAFE_INTEGER);
      case 0x24: {
        // $
        const n = this.#integer(line, -1);
        if (n === -1) return null;
        if (n > this.#limits.maxBulkBytes) {
          throw new RespProtocolError(
            `bulk string of ${n} bytes is over the ${this.#limits.maxBulkBytes}-byte limit`,
          );
        }
        const end = this.#pos + n;
        if (end + 2 > this.#buf.length) {
          this.#need = end + 2;
          throw INCOMPLETE;
        }
        if (this.#buf[end] !== 0x0d || this.#buf[end + 1] !== 0x0a) {
          throw new RespProtocolError('bulk string not followed by CRLF');
        }
        // A copy: the reply outlives the socket's chunk, which may be large and pooled.
        const out = Buffer.from(this.#buf.subarray(this.#pos, end));
        this.#pos = end + 2;
        return out;
      }
      case 0x2a: {
        // *
        const n = this.#integer(line, -1);
        if (n === -1) return null;
        if (n > this.#limits.maxArrayLength) {
          throw new RespProtocolError(
            `array of ${n} elements is over the ${this.#limits.maxArrayLength} limit`,
          );
        }
        if (depth + 1 > this.#limits.maxDepth) {
          throw new RespProtocolError(`arrays nested deeper than ${this.#limits.maxDepth}`);
        }
        const out: RespValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.#value(depth + 1));
        return out;
      }
      default:
        throw new RespProtocolError(`unknown reply type byte 0x${type.toString(16).padStart(2, '0')}`);
    }
  }

  #byte(): number {
    if (this.#pos >= this.#buf.length) throw INCOMPLETE;
    return this.#buf[this.#pos++]!;
  }

  /** The rest of the line, without its CRLF. */
  #line(): Buffer {
    const max = this.#limits.maxLineBytes;
    const cr = this.#buf.indexOf(0x0d, this.#pos);
    if (cr < 0 || cr + 1 >= this.#buf.length) {
      if (this.#buf.length - this.#pos > max) throw new RespProtocolError(`line longer than ${max} bytes`);
      throw INCOMPLETE;
    }
    if (cr - this.#pos > max) throw new RespProtocolError(`line longer than ${max} bytes`);
    if (this.#buf[cr + 1] !== 0x0a) throw new RespProtocolError('CR not followed by LF');
    const line = this.#buf.subarray(this.#pos, cr);
    this.#pos = cr + 2;
    return line;
  }

  /** A decimal integer of at least `min`, exactly as RESP writes it (no sign but `-`, no spaces). */
  #integer(line: Buffer, min: number): number {
    const s = line.toString('latin1');
    if (!/^-?[0-9]{1,19}$/.test(s))
      throw new RespProtocolError(`not an integer: ${JSON.stringify(s.slice(0, 40))}`);
    const n = Number(s);
    if (n < min) throw new RespProtocolError(`length ${n} is not allowed here`);
    return n;
  }
}
