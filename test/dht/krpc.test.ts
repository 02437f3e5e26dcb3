import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '../../src/codec/index.js';
import {
  decodeCompactNodes,
  decodeKrpc,
  encodeCompactNodes,
  encodeError,
  encodeQuery,
  encodeResponse,
  KrpcErrorCode,
} from '../../src/dht/krpc.js';
import { isChunkswarmError } from '../../src/shared/errors.js';

const isKrpc = (e: unknown) => isChunkswarmError(e, 'EKRPC');
const ID = Buffer.alloc(20, 0xab);
const T = Buffer.from('aa');

describe('KRPC codec (BEP 5)', () => {
  it('encodes the BEP 5 ping example byte for byte, with our version key', () => {
    const q = encodeQuery(T, Buffer.from('abcdefghij0123456789'), { method: 'ping' });
    assert.equal(
      q.toString('latin1'),
      'd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:v4:CS\x00\x011:y1:qe',
    );
  });

  it('reads the BEP 5 examples of other clients', () => {
    const ping = decodeKrpc(Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe'));
    assert.equal(ping.kind, 'query');
    assert.equal(ping.kind === 'query' && ping.query.method, 'ping');
    const err = decodeKrpc(Buffer.from('d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee'));
    assert.deepEqual(err, { kind: 'error', t: T, code: 201, message: 'A Generic Error Ocurred' });
    const announce = decodeKrpc(
      Buffer.from(
        'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz123456' +
          '4:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe',
      ),
    );
    assert.ok(announce.kind === 'query' && announce.query.method === 'announce_peer');
    assert.equal(announce.query.impliedPort, true);
    assert.equal(announce.query.port, 6881);
    assert.equal(announce.query.token.toString(), 'aoeusnth');
  });

  it('round-trips each query and a get_peers answer with nodes, values and token', () => {
    for (const q of [
      { method: 'ping' as const },
      { method: 'find_node' as const, target: Buffer.alloc(20, 1) },
      { method: 'get_peers' as const, infoHash: Buffer.alloc(20, 2) },
      {
        method: 'announce_peer' as const,
        infoHash: Buffer.alloc(20, 3),
        port: 51413,
        token: Buffer.from('tok'),
        impliedPort: false,
      },
    ]) {
      const m = decodeKrpc(encodeQuery(T, ID, q));
      assert.ok(m.kind === 'query');
      assert.deepEqual(m.id, ID);
      assert.equal(m.query.method, q.method);
    }
    const nodes = [
      { id: Buffer.alloc(20, 7), host: '10.0.0.1', port: 6881 },
      { id: Buffer.alloc(20, 8), host: '127.0.0.1', port: 1 },
    ];
    const values = [{ host: '192.168.1.2', port: 65535 }];
    const r = decodeKrpc(encodeResponse(T, ID, { nodes, values, token: Buffer.from('secret') }));
    assert.ok(r.kind === 'response');
    assert.deepEqual(r.body.nodes, nodes);
    assert.deepEqual(r.body.values, values);
    assert.equal(r.body.token?.toString(), 'secret');
    const e = decodeKrpc(encodeError(T, KrpcErrorCode.methodUnknown, 'method unknown'));
    assert.deepEqual(e, { kind: 'error', t: T, code: 204, message: 'method unknown' });
  });

  it('names an unknown method so it can be answered with error 204', () => {
    const m = decodeKrpc(encode({ a: { id: ID }, q: 'vote', t: T, y: 'q' }));
    assert.ok(m.kind === 'query');
    assert.deepEqual(m.query, { method: 'unknown', name: 'vote' });
  });

  it('skips IPv6 and malformed values and port-0 nodes, refuses a nodes string of the wrong length', () => {
    const r = decodeKrpc(
      encode({
        r: { id: ID, values: [Buffer.alloc(18, 1), Buffer.from([1, 2, 3, 4, 0, 80]), 5, Buffer.alloc(6)] },
        t: T,
        y: 'r',
      }),
    );
    assert.ok(r.kind === 'response');
    assert.deepEqual(r.body.values, [{ host: '1.2.3.4', port: 80 }]);
    const zero = Buffer.concat([Buffer.alloc(20, 1), Buffer.from([1, 2, 3, 4, 0, 0])]);
    assert.deepEqual(decodeCompactNodes(zero), []);
    assert.throws(() => decodeKrpc(encode({ r: { id: ID, nodes: Buffer.alloc(27) }, t: T, y: 'r' })), isKrpc);
  });

  it('leaves out nodes it cannot put in compact form', () => {
    const b = encodeCompactNodes([
      { id: ID, host: '::1', port: 6881 },
      { id: ID, host: '10.0.0.1', port: 0 },
      { id: Buffer.alloc(3), host: '10.0.0.1', port: 1 },
      { id: ID, host: '10.0.0.2', port: 2 },
    ]);
    assert.equal(b.length, 26);
  });

  it('refuses what breaks a limit or a type', () => {
    const bad = [
      Buffer.alloc(1501, 0x64), // over the datagram cap
      Buffer.from('i1e'),
      Buffer.from('d1:t2:aa1:y1:qe'), // query without 'a'
      encode({ a: { id: Buffer.alloc(19) }, q: 'ping', t: T, y: 'q' }), // id of 19 bytes
      encode({ a: { id: ID }, q: 'ping', t: Buffer.alloc(0), y: 'q' }), // empty transaction id
      encode({ a: { id: ID }, q: 'ping', t: Buffer.alloc(33), y: 'q' }), // transaction id too long
      encode({ a: { id: ID }, q: 'ping', t: T, y: 'x' }),
      encode({
        a: { id: ID, info_hash: ID, port: 1, token: Buffer.alloc(65) },
        q: 'announce_peer',
        t: T,
        y: 'q',
      }),
      encode({
        a: { id: ID, info_hash: ID, port: 0, token: Buffer.alloc(4) },
        q: 'announce_peer',
        t: T,
        y: 'q',
      }),
      encode({ a: { id: ID, target: Buffer.alloc(21) }, q: 'find_node', t: T, y: 'q' }),
      encode({ r: { id: ID, values: 'x' }, t: T, y: 'r' }),
      // nested deeper than a KRPC message ever is
      Buffer.from(
        `d1:ad2:id20:${'x'.repeat(20)}1:z${'l'.repeat(10)}${'e'.repeat(10)}e1:q4:ping1:t2:aa1:y1:qe`,
      ),
    ];
    for (const b of bad) assert.throws(() => decodeKrpc(b), isKrpc, b.toString('latin1').slice(0, 60));
  });

  it('takes keys in any order, as some clients send them', () => {
    const m = decodeKrpc(Buffer.from(`d1:y1:q1:q4:ping1:t2:aa1:ad2:id20:${'x'.repeat(20)}ee`));
    assert.equal(m.kind, 'query');
  });
});
