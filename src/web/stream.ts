import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import type { TorrentLayout } from '../metainfo/types.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import type { Storage } from '../storage/storage.js';
import type { WebGuard } from './guard.js';
import { contentDisposition, SECURITY_HEADERS } from './http.js';

/**
 * `chunkswarm stream`: one file of a torrent over HTTP while it downloads, with byte ranges
 * (RFC 9110 §14) so a player can start at once and seek. The server knows nothing of pieces: it
 * reads through a StreamSource, which blocks until the bytes asked for are verified and hears where
 * the reader is, so the session can fetch the pieces under the read position first.
 */
export interface StreamSource {
  readonly fileLength: number;
  /** `length` bytes of the file from `offset`; only called once waitForRange resolved for them. */
  readAt(offset: number, length: number): Promise<Buffer>;
  /** Resolves once every byte of the range is verified; rejects when `signal` aborts (the client left). */
  waitForRange(offset: number, length: number, signal?: AbortSignal): Promise<void>;
  /** The reader is now at `fileOffset` (a request started there, or the body moved on to it). */
  onReadPosition(fileOffset: number): void;
}

/** Bytes read and sent per step: small enough that a seek moves the read-ahead soon, big enough to be cheap. */
export const STREAM_STEP = 256 * 1024;

/** Content types by extension; anything else is sent as bytes. Never a type a browser would run. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.mkv': 'video/x-matroska',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.avi': 'video/x-msvideo',
  '.ogv': 'video/ogg',
  '.ts': 'video/mp2t',
  '.mp3': 'audio/mpeg',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.flac': 'audio/flac',
  '.wav': 'audio/wav',
  '.ogg': 'audio/ogg',
  '.oga': 'audio/ogg',
  '.opus': 'audio/opus',
  '.txt': 'text/plain; charset=utf-8',
  '.srt': 'text/plain; charset=utf-8',
  '.vtt': 'text/vtt; charset=utf-8',
  '.pdf': 'application/pdf',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.iso': 'application/octet-stream',
};

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function contentTypeFor(fileName: string): string {
  return CONTENT_TYPES[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

/** What a Range header asks of a file of `size` bytes. */
export type RangeAnswer =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

/**
 * Reads a Range header (RFC 9110 §14.1.2): one `bytes=a-b`, `bytes=a-` or `bytes=-n`. A header that
 * is absent, not about bytes, malformed or asks for several ranges is ignored (the whole file is
 * sent, as §14.2 allows); a well-formed range that starts past the end is unsatisfiable. `end` is
 * inclusive and clamped to the file.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined || header.length > 200) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d{0,16})\s*-\s*(\d{0,16})\s*$/i.exec(header);
  if (!m) return { kind: 'full' };
  const [, a, b] = m;
  if (a === '' && b === '') return { kind: 'full' };
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const last = b === '' ? size - 1 : Number(b);
  return { kind: 'partial', start, end: Math.min(last, size - 1) };
}

export interface StreamHandlerOptions {
  /** The file a request names: `/`, `/<index>` or `/<index>/<anything>` (a name for the player). */
  readonly sources: (index: number) => { source: StreamSource; name: string } | undefined;
  /** The file `/` serves. */
  readonly defaultIndex?: number;
  /** Host (DNS rebinding) and access checks, as on the dashboards. */
  readonly guard?: WebGuard;
  /** Where the handler is mounted on a server of its own (e.g. `/stream` on the peer page); default `/`. */
  readonly basePath?: string;
}

const STREAM_HEADERS: Readonly<Record<string, string>> = {
  ...SECURITY_HEADERS,
  // Torrent content is untrusted: never let a file served here run as a page of this origin.
  'Content-Security-Policy': "sandbox; default-src 'none'",
  // A player on another local page (the peer page's <video>) may embed it.
  'Cross-Origin-Resource-Policy': 'same-site',
};

/** The request handler: mount it on a server of your own, or use startStreamServer. */
export function streamHandler(
  opts: StreamHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void serve(opts, req, res).catch((err: unknown) => {
      if (!res.headersSent) plain(res, 500, describeError(err));
      else res.destroy();
    });
  };
}

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, {
    ...STREAM_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
    ...extra,
  });
  res.end(body);
}

async function serve(opts: StreamHandlerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://stream.invalid');
  if (opts.guard) {
    const host = opts.guard.checkHost(req.headers.host);
    if (!host.ok) return plain(res, host.status, host.reason);
    const access = opts.guard.checkAccess(
      url.searchParams.get('token') ?? undefined,
      req.headers.cookie,
      req.headers.authorization,
    );
    if (!access.ok) return plain(res, access.status, access.reason);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return plain(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
  const base = (opts.basePath ?? '').replace(/\/+$/, '');
  const path = url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length) : undefined;
  const m = path === undefined ? null : /^\/(?:(\d{1,6})(?:\/.*)?)?$/s.exec(path);
  const index = m?.[1] !== undefined ? Number(m[1]) : opts.defaultIndex;
  const entry = m && index !== undefined ? opts.sources(index) : undefined;
  if (!entry) return plain(res, 404, 'no such file in this torrent');
  const { source, name } = entry;
  const size = source.fileLength;
  const common = {
    ...STREAM_HEADERS,
    'Accept-Ranges': 'bytes',
    'Content-Type': contentTypeFor(name),
    'Cache-Control': 'no-store',
    'Content-Disposition': contentDisposition(baseName(name), 'inline'),
  };
  // If-Range names a validator we do not keep: the range might be of another version, so send all.
  const range =
    req.headers['if-range'] !== undefined ? { kind: 'full' as const } : parseRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    res.writeHead(416, { ...common, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    res.end();
    return;
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : size - 1;
  const length = end - start + 1;
  const headers: Record<string, string | number> = { ...common, 'Content-Length': length };
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  await sendBody(source, res, start, length);
}

async function sendBody(
  source: StreamSource,
  res: ServerResponse,
  start: number,
  length: number,
): Promise<void> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.on('close', onClose);
  try {
    for (let at = start; at < start + length; ) {
      const n = Math.min(STREAM_STEP, start + length - at);
      source.onReadPosition(at);
      await source.waitForRange(at, n, gone.signal);
      if (gone.signal.aborted) return;
      const bytes = await source.readAt(at, n);
      if (gone.signal.aborted) return;
      if (!res.write(bytes)) await drained(res, gone.signal);
      at += n;
    }
    res.end();
  } catch (err) {
    // The client leaving is the normal end of most streams; anything else ends the response early.
    if (gone.signal.aborted) return;
    throw err;
  } finally {
    res.off('close', onClose);
  }
}

function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    signal.addEventListener('abort', done);
  });
}

export interface StreamServerOptions extends StreamHandlerOptions {
  /** Default 127.0.0.1: only this machine can reach it. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
}

export interface StreamServerHandle {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export async function startStreamServer(opts: StreamServerOptions): Promise<StreamServerHandle> {
  const server = createServer(streamHandler(opts));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shown}:${addr.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What the session tells a torrent file source: which pieces are verified, and when one becomes so. */
export interface TorrentFileSourceOptions {
  readonly storage: Storage;
  readonly fileIndex: number;
  readonly isVerified: (piece: number) => boolean;
  /** Calls `listener` for each newly verified piece; returns the unsubscribe. */
  readonly onPieceVerified: (listener: (piece: number) => void) => () => void;
  /** The pieces to fetch first, in order (for `PiecePicker.setStreamWindow`), each time the reader moves. */
  readonly onWindow?: (window: { first: number; count: number }) => void;
  /** Bytes of read-ahead beyond the read position; default 8 MiB, never less than two pieces. */
  readonly readAheadBytes?: number;
}

/** A StreamSource over one file of a torrent session: reads from its storage, waits on its verified pieces. */
export function torrentFileSource(opts: TorrentFileSourceOptions): StreamSource {
  const layout: TorrentLayout = opts.storage.layout;
  const file = layout.files[opts.fileIndex];
  if (!file) {
    throw new ChunkswarmError(
      'EUSAGE',
      `the torrent has no file ${opts.fileIndex}: it has ${layout.files.length}`,
    );
  }
  const pieceOf = (fileOffset: number) => Math.floor((file.offset + fileOffset) / layout.pieceLength);
  const lastPiece = file.length === 0 ? pieceOf(0) : pieceOf(file.length - 1);
  const ahead = Math.max(2, Math.ceil((opts.readAheadBytes ?? 8 * 1024 * 1024) / layout.pieceLength));
  return {
    fileLength: file.length,
    onReadPosition(fileOffset) {
      if (file.length === 0 || !opts.onWindow) return;
      const first = pieceOf(Math.min(Math.max(0, fileOffset), file.length - 1));
      opts.onWindow({ first, count: Math.min(ahead, lastPiece - first + 1) });
    },
    waitForRange(offset, length, signal) {
      const missing = new Set<number>();
      if (length > 0)
        for (let p = pieceOf(offset); p <= pieceOf(offset + length - 1); p++) {
          if (!opts.isVerified(p)) missing.add(p);
        }
      if (missing.size === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const finish = () => {
          off();
          signal?.removeEventListener('abort', abort);
        };
        const abort = () => {
          finish();
          reject(new ChunkswarmError('ETIMEOUT', 'the reader left before the bytes arrived'));
        };
        const off = opts.onPieceVerified((p) => {
          missing.delete(p);
          if (missing.size === 0) {
            finish();
            resolve();
          }
        });
        if (signal?.aborted) return abort();
        signal?.addEventListener('abort', abort);
        // A piece may have been verified between the check above and the subscription.
        for (const p of [...missing]) if (opts.isVerified(p)) missing.delete(p);
        if (missing.size === 0) {
          finish();
          resolve();
        }
      });
    },
    async readAt(offset, length) {
      const out = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const abs = file.offset + offset + done;
        const piece = Math.floor(abs / layout.pieceLength);
        const begin = abs - piece * layout.pieceLength;
        const pieceBytes = Math.min(layout.pieceLength, layout.totalLength - piece * layout.pieceLength);
        const n = Math.min(length - done, pieceBytes - begin);
        const into = out.subarray(done, done + n);
        const got = await opts.storage.read(piece, begin, n, into);
        // A storage may hand back its own buffer rather than fill ours.
        if (got.buffer !== into.buffer || got.byteOffset !== into.byteOffset) got.copy(into);
        done += n;
      }
      return out;
    },
  };
}
