import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeCommand,
  RespError,
  RespParser,
  RespProtocolError,
} from '../../src/tracker/server/redis/resp.js';

describe('RESP2 codec', () => {
  it('writes a command as an array of bulk strings', () => {
    assert.equal(
      encodeCommand(['SET', 'k', Buffer.from([0, 13, 10]), 42]).toString('latin1'),
      '*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\x00\r\n\r\n$2\r\n42\r\n',
    );
    assert.throws(() => encodeCommand([Number.NaN]), RangeError);
  });

  it('reads each reply type, nil bulk and nil array included', () => {
    const p = new RespParser();
    const got = p.push(
      Buffer.from(
        '+OK\r\n-NOSCRIPT No matching script\r\n:-7\r\n$-1\r\n*-1\r\n$3\r\na\r\n\r\n*2\r\n:1\r\n*1\r\n+x\r\n',
      ),
    );
    assert.equal(got[0], 'OK');
    assert.ok(got[1] instanceof RespError);
    assert.equal((got[1] as RespError).kind, 'NOSCRIPT');
    assert.deepEqual(got.slice(2), [-7, null, null, Buffer.from('a\r\n'), [1, ['x']]]);
  });

  it('waits for the rest of a split reply, holding only what it has', () => {
    const p = new RespParser();
    assert.deepEqual(p.push(Buffer.from('$10\r\n01234')), []);
    assert.equal(p.buffered, 10);
    assert.deepEqual(p.push(Buffer.from('56789\r')), []);
    assert.deepEqual(p.push(Buffer.from('\n:1')), [Buffer.from('0123456789')]);
    assert.deepEqual(p.push(Buffer.from('\r\n')), [1]);
    assert.equal(p.buffered, 0);
  });

  it('refuses what is not RESP2, and lengths past its limits before waiting for them', () => {
    const bad = (s: string, limits = {}) =>
      assert.throws(() => new RespParser(limits).push(Buffer.from(s)), RespProtocolError, JSON.stringify(s));
    bad('?\r\n');
    bad(':12a\r\n');
    bad('$-2\r\n');
    bad('$3\r\nabcd\r\n');
    bad('+a\rb\n');
    bad('$2000\r\n', { maxBulkBytes: 1024 });
    bad('*100\r\n', { maxArrayLength: 10 });
    bad('*1\r\n*1\r\n*1\r\n:1\r\n', { maxDepth: 2 });
    bad(`+${'x'.repeat(200)}`, { maxLineBytes: 100 });
  });
});
