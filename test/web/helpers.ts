import { createHash } from 'node:crypto';
import { type IncomingHttpHeaders, request } from 'node:http';
import { buildInfoDict, buildTorrentFile, parseMetainfo } from '../../src/metainfo/index.js';
import type { Metainfo } from '../../src/metainfo/types.js';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP exchange on a fresh loopback connection, with exactly the headers given (Host included). */
export function call(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { Host: `127.0.0.1:${port}`, ...opts.headers };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers,
        agent: false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const body = Buffer.concat(parts);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: <T>() => JSON.parse(body.toString()) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** A POST as the page sends it: its own Origin and the request token. */
export function pagePost(
  port: number,
  path: string,
  token: string,
  body: Buffer | string,
  type = 'application/json',
) {
  return call(port, {
    method: 'POST',
    path,
    body,
    headers: { Origin: `http://127.0.0.1:${port}`, 'X-Chunkswarm-Token': token, 'Content-Type': type },
  });
}

/** The request token a page gets, read from its HTML. */
export async function pageToken(port: number): Promise<string> {
  const page = await call(port);
  const m = /<meta name="cs-token" content="([^"]+)">/.exec(page.body.toString());
  if (!m) throw new Error(`no token in the page:\n${page.body}`);
  return m[1]!;
}

/** A torrent of `data` built in memory (no files), with the given name and piece length. */
export function makeTorrent(
  name: string,
  data: Buffer,
  opts: { pieceLength?: number; trackers?: string[]; webSeeds?: string[] } = {},
): { bytes: Buffer; meta: Metainfo } {
  const pieceLength = opts.pieceLength ?? 16 * 1024;
  const hashes: Buffer[] = [];
  for (let off = 0; off < data.length; off += pieceLength) {
    hashes.push(
      createHash('sha1')
        .update(data.subarray(off, off + pieceLength))
        .digest(),
    );
  }
  const info = buildInfoDict({
    name,
    pieceLength,
    pieceHashes: Buffer.concat(hashes),
    files: [{ path: [name], length: data.length }],
    multiFile: false,
  });
  const bytes = buildTorrentFile(info, {
    trackers: opts.trackers ?? ['http://127.0.0.1:1/announce'],
    webSeeds: opts.webSeeds,
  });
  return { bytes, meta: parseMetainfo(bytes) };
}

/** Reads server-sent events from a response until `want` accepts one; resolves with its data. */
export function nextEvent<T>(
  port: number,
  want: (data: T) => boolean,
  opts: { timeoutMs?: number; onOpen?: () => void; path?: string } = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/events',
        headers: { Host: `127.0.0.1:${port}` },
        agent: false,
      },
      (res) => {
        let buf = '';
        let opened = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n');
            if (!data) continue;
            const value = JSON.parse(data) as T;
            if (!opened) {
              opened = true;
              opts.onOpen?.();
            }
            if (want(value)) {
              clearTimeout(timer);
              req.destroy();
              resolve(value);
              return;
            }
          }
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no matching event in time'));
    }, opts.timeoutMs ?? 5000);
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}
