/** A loopback HTTP server's answer to a Range request, for the web seed tests (BEP 19). */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Answers `req` for `body` (undefined: 404) with the bytes its Range header asks for (206), or 400 when it
 * asks for no single range; `corrupt` flips the first byte sent.
 */
export function answerRange(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | undefined,
  opts: { corrupt?: boolean } = {},
): void {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (body === undefined || m === null) {
    res.writeHead(body === undefined ? 404 : 400).end();
    return;
  }
  const start = Number(m[1]);
  const end = Math.min(Number(m[2]), body.length - 1);
  const part = Buffer.from(body.subarray(start, end + 1));
  if (opts.corrupt) part[0]! ^= 0xff;
  res.writeHead(206, {
    'content-range': `bytes ${start}-${end}/${body.length}`,
    'content-length': part.length,
  });
  res.end(part);
}
