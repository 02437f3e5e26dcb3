/** A loopback HTTP server's answer to a Range request, for the web seed tests (BEP 19). */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';

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

/**
 * An HTTP server on 127.0.0.1 serving the files under `root` at `/files/<path>` with Range requests, as a web
 * seed's server would; `requests` lists each request's Range header.
 */
export async function serveFolder(
  root: string,
): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    requests.push(req.headers.range ?? 'no range');
    const path = decodeURIComponent(req.url ?? '');
    const body = path.startsWith('/files/')
      ? await readFile(join(root, path.slice('/files/'.length))).catch(() => undefined)
      : undefined;
    answerRange(req, res, body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/files/`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
