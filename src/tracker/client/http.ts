import { request as httpRequest, type IncomingMessage } from 'node:http';
import { ChunkswarmError, describeError } from '../../shared/errors.js';

export interface HttpGetOptions {
  /** The whole exchange, redirects included (default 15 s). */
  readonly timeoutMs?: number;
  /** Largest body accepted (default 1 MiB): a tracker answer is a few KiB at most. */
  readonly maxBytes?: number;
  /** Redirects followed (default 3); some trackers move from http to https this way. */
  readonly maxRedirects?: number;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * GETs `url` over http or https and resolves with the body of a 200 answer. Fails with
 * ChunkswarmError: `ETIMEOUT` past the deadline, `ETRACKER_UNREACHABLE` when no connection could
 * be made, `ETRACKER_RESPONSE` for another status or a body over `maxBytes` (which is never
 * buffered past the cap).
 */
export async function httpGet(url: string, opts: HttpGetOptions = {}): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  let redirectsLeft = opts.maxRedirects ?? 3;
  const deadline = Date.now() + timeoutMs;
  let current = url;
  for (;;) {
    const outcome = await getOnce(current, deadline - Date.now(), timeoutMs, maxBytes);
    if (outcome.kind === 'body') return outcome.body;
    if (redirectsLeft-- <= 0) {
      throw new ChunkswarmError('ETRACKER_RESPONSE', `${origin(url)} redirected too many times`);
    }
    current = new URL(outcome.location, current).href;
  }
}

type Outcome = { kind: 'body'; body: Buffer } | { kind: 'redirect'; location: string };

async function getOnce(
  url: string,
  remainingMs: number,
  timeoutMs: number,
  maxBytes: number,
): Promise<Outcome> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ChunkswarmError('ETRACKER_UNREACHABLE', `not a valid URL: ${url}`);
  }
  // https (with tls) is loaded on a first https tracker: a few ms of every start that most never need.
  const request =
    parsed.protocol === 'http:'
      ? httpRequest
      : parsed.protocol === 'https:'
        ? (await import('node:https')).request
        : undefined;
  if (!request) {
    throw new ChunkswarmError(
      'ETRACKER_UNREACHABLE',
      `cannot fetch ${parsed.protocol}// URLs, only http and https`,
    );
  }
  const where = origin(url);
  return new Promise<Outcome>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, value?: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(new ChunkswarmError('ETIMEOUT', `${where} did not answer within ${timeoutMs} ms`)),
      Math.max(0, remainingMs),
    );
    // agent: false means one connection per request and `Connection: close`: nothing pooled is
    // left to keep the process alive, and a tracker sees a plain request.
    const req = request(parsed, {
      agent: false,
      headers: { 'User-Agent': 'chunkswarm', 'Accept-Encoding': 'identity' },
    });
    req.on('error', (err) => {
      finish(
        new ChunkswarmError('ETRACKER_UNREACHABLE', `cannot reach ${where}: ${describeError(err)}`, {
          cause: err,
        }),
      );
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        finish(undefined, { kind: 'redirect', location });
        return;
      }
      if (status !== 200) {
        res.resume();
        finish(new ChunkswarmError('ETRACKER_RESPONSE', `${where} answered HTTP ${status}`));
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (declared > maxBytes) {
        finish(
          new ChunkswarmError('ETRACKER_RESPONSE', `${where} sent ${declared} bytes, more than ${maxBytes}`),
        );
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          finish(new ChunkswarmError('ETRACKER_RESPONSE', `${where} sent more than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, { kind: 'body', body: Buffer.concat(chunks) }));
      res.on('error', (err) => {
        finish(
          new ChunkswarmError('ETRACKER_UNREACHABLE', `${where} broke off: ${describeError(err)}`, {
            cause: err,
          }),
        );
      });
      res.on('aborted', () =>
        finish(new ChunkswarmError('ETRACKER_UNREACHABLE', `${where} broke off its answer`)),
      );
    });
    req.end();
  });
}

/** Scheme, host and port of a URL: enough to name a tracker in a message without its passkey. */
function origin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'tracker';
  }
}
