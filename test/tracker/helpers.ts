import { request } from 'node:http';
import { connect } from 'node:net';
import { type BDict, decode } from '../../src/codec/index.js';
import { encodeBytes } from '../../src/tracker/protocol/index.js';

/** GET over a fresh connection; resolves with the status and the raw body. */
export function httpGet(
  host: string,
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes raw bytes on a TCP connection and collects everything until the server closes it. */
export function rawExchange(port: number, data: string | Buffer, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, host);
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    sock.write(data);
  });
}

export function dict(body: Buffer): BDict {
  const v = decode(body, { strictKeyOrder: true });
  if (!(v instanceof Map)) throw new Error('response is not a dictionary');
  return v;
}

export function failureOf(body: Buffer): string | undefined {
  const f = dict(body).get('failure reason');
  return Buffer.isBuffer(f) ? f.toString() : undefined;
}

export const hash = (n: number) => Buffer.alloc(20, n);
export const peerId = (n: number) => Buffer.from(`-CS0001-${String(n).padStart(12, '0')}`, 'latin1');

/** An announce query string for peer `n` of swarm `h`. */
export function announceQuery(h: number, n: number, extra = ''): string {
  return `info_hash=${encodeBytes(hash(h))}&peer_id=${encodeBytes(peerId(n))}&port=${6000 + n}${extra}`;
}
