import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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
        const reply = await exchange(l.port, [
          [0, 'GET /one HTTP/1.1\r\nHost: x\r\n\r\n'],
          [50, 'GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
        ]);
        assert.match(reply, /GET \/one[\s\S]*GET \/two/);
        assert.equal(seen.length, 1);
        assert.notEqual(seen[0]!.remoteAddress(), undefined);
      } finally {
        http.closeAllConnections();
        await l.close();
      }
    });
  }

  // The handles layer reads a request that is already waiting when its connection is accepted
  // (tcp.ts, tryFirstRead) and reads the others through libuv; both must give the same answers.
  it('handles: a request waiting at accept and one sent later are both answered', async () => {
    const l = await listenTcp('127.0.0.1', 0, 'handles', {
      onConnection() {},
      onData(conn, chunk) {
        // Echo what arrived, once a whole line is in (a request in parts is kept by the owner).
        const had = (conn.state as Buffer | undefined) ?? Buffer.alloc(0);
        const all = Buffer.concat([had, chunk]);
        if (all.includes(0x0a)) conn.reply(Buffer.concat([Buffer.from('echo '), all]));
        else conn.state = all;
      },
      onEnd(conn) {
        conn.close();
      },
    });
    try {
      // Another process connects and sends its line while this one's event loop is held, so the
      // line is in the socket before the tracker accepts the connection.
      const client = spawn(
        process.execPath,
        [
          '-e',
          `const s = require('net').connect(${l.port}, '127.0.0.1', () => s.write('first\\n'));
           let out = ''; s.on('data', (c) => (out += c)); s.on('close', () => process.stdout.write(out));`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let fromChild = '';
      client.stdout.on('data', (c: Buffer) => {
        fromChild += c.toString();
      });
      const exited = new Promise<void>((resolve) => client.on('exit', () => resolve()));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
      await exited;
      assert.equal(fromChild, 'echo first\n');
      assert.ok(l.firstReads().atAccept >= 1, JSON.stringify(l.firstReads()));

      // Sent in two parts, the second well after the accept: read through libuv.
      const reply = await exchange(l.port, [
        [100, 'sec'],
        [200, 'ond\n'],
      ]);
      assert.equal(reply, 'echo second\n');
      assert.ok(l.firstReads().waited >= 1, JSON.stringify(l.firstReads()));
    } finally {
      await l.close();
    }
  });
});

/** Connects, writes each part `ms` after connecting, and resolves with all it read once closed. */
function exchange(port: number, parts: readonly (readonly [number, string])[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.on('error', reject);
    sock.on('data', (c: Buffer) => {
      out += c.toString();
    });
    sock.on('close', () => resolve(out));
    for (const [ms, text] of parts) {
      if (ms === 0) sock.write(text);
      else setTimeout(() => sock.write(text), ms);
    }
  });
}
