import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChunkswarmError, describeError, type ErrorCode, isChunkswarmError } from '../shared/errors.js';

/** Headers on every dashboard answer: no framing, no sniffing, nothing loaded from elsewhere. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  extra: Record<string, string> = {},
): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), {
    'Cache-Control': 'no-store',
    ...extra,
  });
}

export function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  extra: Record<string, string | number> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': contentType,
    'Content-Length': bytes.length,
    ...extra,
  });
  res.end(bytes);
}

/** A JSON error a page shows as it is: `{ error, code }`. */
export function sendError(res: ServerResponse, err: unknown, extra: Record<string, string> = {}): void {
  const code: ErrorCode | 'EINTERNAL' = err instanceof ChunkswarmError ? err.code : 'EINTERNAL';
  sendJson(res, statusFor(err), { error: describeError(err), code }, extra);
}

function statusFor(err: unknown): number {
  if (isChunkswarmError(err, 'EMETAINFO_SIZE')) return 413;
  if (isChunkswarmError(err, 'EMAGNET')) return 422;
  if (err instanceof ChunkswarmError) {
    if (
      err.code === 'EUSAGE' ||
      err.code === 'EMETAINFO' ||
      err.code === 'EUNSAFE_PATH' ||
      err.code.startsWith('EBENCODE')
    ) {
      return 400;
    }
    if (err.code === 'EPEER' || err.code === 'ETIMEOUT') return 409;
  }
  return 500;
}

/**
 * Reads a request body of at most `maxBytes`. A declared Content-Length over the cap is refused
 * before a byte is read; a body that grows past it (chunked) is refused as soon as it does. Either
 * way nothing larger than the cap is ever held.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const n = Number(declared);
    if (!Number.isSafeInteger(n) || n < 0) {
      return Promise.reject(new ChunkswarmError('EUSAGE', 'malformed Content-Length'));
    }
    if (n > maxBytes) return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) {
        // Stop reading; the answer goes out with Connection: close so the rest is never parsed.
        req.pause();
        reject(err);
      } else resolve(Buffer.concat(parts, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) finish(tooLarge(maxBytes));
      else parts.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (err: Error): void => finish(err);
    const onAborted = (): void => finish(new ChunkswarmError('EUSAGE', 'the request was aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function tooLarge(maxBytes: number): ChunkswarmError {
  return new ChunkswarmError('EMETAINFO_SIZE', `the upload is larger than the ${maxBytes}-byte limit`);
}

/** Reads a small JSON object body; anything else is a usage error with a plain reason. */
export async function readJson(req: IncomingMessage, maxBytes = 16 * 1024): Promise<Record<string, unknown>> {
  const body = await readBody(req, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ChunkswarmError('EUSAGE', 'the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChunkswarmError('EUSAGE', 'the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** `&`, `<`, `>`, `"` and `'` as entities: the only way text from the network enters our HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Path and query of a request URL; a malformed URL yields the root with no query. */
export function splitUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  try {
    const u = new URL(url ?? '/', 'http://x');
    return { path: u.pathname, query: u.searchParams };
  } catch {
    return { path: '/', query: new URLSearchParams() };
  }
}

/**
 * A Content-Disposition that survives any torrent name: ASCII fallback plus RFC 6266 `filename*`.
 * `inline` for a file shown in place (a stream), `attachment` for one to save.
 */
export function contentDisposition(
  name: string,
  disposition: 'attachment' | 'inline' = 'attachment',
): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\;]/g, '_');
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
