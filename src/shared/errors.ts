/**
 * Every error chunkswarm raises on purpose carries a stable `code`, so callers (the CLI, the
 * tracker, a peer connection) can decide what to do without matching on message text.
 */
export type ErrorCode =
  // bencode
  | 'EBENCODE_SYNTAX'
  | 'EBENCODE_TRUNCATED'
  | 'EBENCODE_DEPTH'
  | 'EBENCODE_LENGTH'
  | 'EBENCODE_TOKENS'
  | 'EBENCODE_INT'
  | 'EBENCODE_KEY_ORDER'
  | 'EBENCODE_TRAILING'
  // metainfo
  | 'EMETAINFO'
  | 'EMETAINFO_SIZE'
  | 'EUNSAFE_PATH'
  | 'EMAGNET'
  // wire
  | 'EWIRE_HANDSHAKE'
  | 'EWIRE_LENGTH'
  | 'EWIRE_MESSAGE'
  | 'EWIRE_PROTOCOL'
  // tracker
  | 'ETRACKER_REQUEST'
  | 'ETRACKER_FAILURE'
  | 'ETRACKER_RESPONSE'
  | 'ETRACKER_UNREACHABLE'
  // dht (BEP 5)
  | 'EKRPC'
  | 'EDHT_STATE'
  // storage
  | 'ESTORAGE'
  | 'EPIECE_HASH'
  | 'EDATA_MISMATCH'
  // usage
  | 'EUSAGE'
  | 'ETIMEOUT'
  | 'EPEER';

export class ChunkswarmError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChunkswarmError';
    this.code = code;
  }
}

export function isChunkswarmError(err: unknown, code?: ErrorCode): err is ChunkswarmError {
  return err instanceof ChunkswarmError && (code === undefined || err.code === code);
}

/** A message for a user: our own errors as they are, anything else with its Node code if it has one. */
export function describeError(err: unknown): string {
  if (err instanceof ChunkswarmError) return err.message;
  if (err instanceof Error) {
    const { code, syscall } = err as NodeJS.ErrnoException;
    // Node's network errors name their call, code and address ("connect ECONNREFUSED 127.0.0.1:6969"):
    // what went wrong, in words, with the code to search for. The caller says which address.
    const named = syscall !== undefined && err.message.startsWith(`${syscall} ${code}`);
    const words = code === undefined ? undefined : NETWORK_WORDS[code];
    if (named && words !== undefined) return `${words} (${code})`;
    return code && !named ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed by the other side',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'name lookup failed (try again)',
};

/**
 * An OS error in a line to follow "cannot <verb> <path>: ": `no such file or directory (ENOENT)`. Node's
 * own message ("ENOENT: no such file or directory, stat 'x'") repeats the code and the path the caller names.
 */
export function osReason(err: unknown): string {
  // Ours already say what failed, in our words.
  if (err instanceof ChunkswarmError) return err.message;
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  if (!code) return err.message;
  let text = err.message;
  if (text.startsWith(`${code}: `)) text = text.slice(code.length + 2);
  const comma = text.indexOf(', ');
  if (comma >= 0) text = text.slice(0, comma);
  return `${text} (${code})`;
}

/**
 * Turns an OS error into "cannot <verb> <path>: no space left on device (ENOSPC)". Node's own
 * message ("ENOSPC: no space left on device, write") repeats the code and leaves out the path
 * for handle operations, so rebuild it.
 */
export function storageError(verb: string, path: string, err: unknown): ChunkswarmError {
  if (err instanceof ChunkswarmError) return err;
  return new ChunkswarmError('ESTORAGE', `cannot ${verb} ${path}: ${osReason(err)}`, { cause: err });
}
