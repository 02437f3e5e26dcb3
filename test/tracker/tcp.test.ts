import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { type Connection, handlesAvailable, listenTcp } from '../../src/tracker/server/tcp.js';

describe('tracker sockets', () => {
  it('this Node offers the bare handles the fast layer needs', () => {
    assert.equal(handlesAvailable(), true);
  });

  for (const layer of ['handles', 'net'] as const) {
    it(`${layer}: a large reply waits for a slow reader, then the connection closes`, async () => {
      const big = Buffer.alloc(24 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
      const l = await listenTcp('127.0.0.1', 0, layer, {
        onConnection() {},
        onData(conn) {
          conn.reply(big);
        },
        onEnd(conn) {
          conn.close();
        },
      });
      try {
        const got = await new Promise<Buffer>((resolve, reject) => {
          const sock = connect(l.port, '127.0.0.1');
          const parts: Buffer[] = [];
          sock.on('error', reject);
          sock.on('data', (c: Buffer) => parts.push(c));
          sock.on('close', () => resolve(Buffer.concat(parts)));
          sock.write('go');
          sock.pause();
          setTimeout(() => sock.resume(), 300);
        });
        assert.equal(got.length, big.length);
        assert.ok(got.equals(big));
      } finally {
        await l.close();
      }
    });

    it(`${layer}: hands a connection to node:http with the bytes already read`, async () => {
      const http = createServer((req, res) => {
        res.end(`${req.method} ${req.url}`);
      });
      const seen: Connection[] = [];
      const l = await listenTcp('127.0.0.1', 0, layer, {
        onConnection(conn) {
          seen.push(conn);
        },
        onData(conn, chunk) {
          conn.handOver(http, chunk);
        },
        onEnd(conn) {
          conn.close();
        },
      });
      try {
        const reply = await new Promise<string>((resolve, reject) => {
          const sock = connect(l.port, '127.0.0.1');
          let out = '';
          sock.on('error', reject);
          sock.on('data', (c: Buffer) => {
            out += c.toString();
          });
          sock.on('close', () => resolve(out));
          sock.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
          setTimeout(() => sock.write('GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 50);
        });
        assert.match(reply, /GET \/one[\s\S]*GET \/two/);
        assert.equal(seen.length, 1);
        assert.notEqual(seen[0]!.remoteAddress(), undefined);
      } finally {
        http.closeAllConnections();
        await l.close();
      }
    });
  }
});
