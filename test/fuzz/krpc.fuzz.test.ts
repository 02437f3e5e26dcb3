/**
 * Fuzzing the DHT's and PEX's parsers: KRPC datagrams (BEP 5) and ut_pex payloads (BEP 11), valid ones
 * cut at random points (a datagram is one message, so "split" means truncated) and mutated, plus random
 * bytes. A parser either returns a value or throws its own error code; a DhtNode fed anything never
 * throws and keeps its state bounded. FUZZ_RUNS sets the number of runs per property.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeKrpc,
  encodeError,
  encodeQuery,
  encodeResponse,
  type NodeContact,
  type OutgoingQuery,
} from '../../src/dht/krpc.js';
import { SimNetwork } from '../../src/dht/sim.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { normalizeIp } from '../../src/shared/ip.js';
import { LIMITS } from '../../src/shared/limits.js';
import { decodePex, encodePex, type PexPeer } from '../../src/wire/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? '') || 2000;

const bytes20 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b));
const tid = fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => Buffer.from(b));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const port = fc.integer({ min: 1, max: 65535 });
const nodeArb: fc.Arbitrary<NodeContact> = fc.record({ id: bytes20, host: ipv4, port });

const queryArb: fc.Arbitrary<OutgoingQuery> = fc.oneof(
  fc.constant({ method: 'ping' as const }),
  bytes20.map((target) => ({ method: 'find_node' as const, target })),
  bytes20.map((infoHash) => ({ method: 'get_peers' as const, infoHash })),
  fc.record({
    method: fc.constant('announce_peer' as const),
    infoHash: bytes20,
    port,
    token: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => Buffer.from(b)),
    impliedPort: fc.boolean(),
  }),
);

/** Valid KRPC datagrams of every kind. */
const validDatagram = fc.oneof(
  fc.tuple(tid, bytes20, queryArb).map(([t, id, q]) => encodeQuery(t, id, q)),
  fc
    .record({
      t: tid,
      id: bytes20,
      nodes: fc.option(fc.array(nodeArb, { maxLength: 8 }), { nil: undefined }),
      values: fc.option(fc.array(fc.record({ host: ipv4, port }), { maxLength: 50 }), { nil: undefined }),
      token: fc.option(
        fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => Buffer.from(b)),
        { nil: undefined },
      ),
    })
    .map(({ t, id, ...body }) => encodeResponse(t, id, body)),
  fc
    .tuple(tid, fc.integer({ min: 201, max: 204 }), fc.string({ maxLength: 40 }))
    .map(([t, c, m]) => encodeError(t, c, m)),
);

type Edit = { kind: 'set' | 'insert' | 'delete' | 'truncate'; at: number; byte: number };
const syntaxByte = fc.constantFrom(...Buffer.from('ilde:-0123456789qry'));
const edits = fc.array(
  fc.record({
    kind: fc.constantFrom('set', 'insert', 'delete', 'truncate') as fc.Arbitrary<Edit['kind']>,
    at: fc.nat(),
    byte: fc.oneof(syntaxByte, fc.nat(255)),
  }),
  { minLength: 1, maxLength: 6 },
);

function mutate(input: Buffer, list: readonly Edit[]): Buffer {
  let b = Buffer.from(input);
  for (const { kind, at, byte } of list) {
    const i = at % (b.length + 1);
    if (kind === 'set' && i < b.length) b[i] = byte;
    else if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Uint8Array.of(byte), b.subarray(i)]);
    else if (kind === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    else if (kind === 'truncate') b = b.subarray(0, i);
  }
  return b;
}

const hostileDatagram = fc.oneof(
  validDatagram,
  fc.tuple(validDatagram, edits).map(([b, e]) => mutate(b, e)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.uint8Array({ minLength: 1400, maxLength: 1700 }).map((b) => Buffer.from(b)),
);

function assertCode(err: unknown, prefix: string): void {
  if (!(err instanceof ChunkswarmError) || !err.code.startsWith(prefix)) {
    assert.fail(`threw something other than a ${prefix} error: ${String(err)}`);
  }
}

describe('KRPC fuzz', () => {
  it('decodes or throws EKRPC, whatever the bytes', () => {
    fc.assert(
      fc.property(hostileDatagram, (b) => {
        try {
          decodeKrpc(b);
        } catch (err) {
          assertCode(err, 'EKRPC');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('decodes every valid datagram, and refuses every cut of one with EKRPC', () => {
    fc.assert(
      fc.property(validDatagram, fc.nat(), (b, at) => {
        assert.ok(b.length <= LIMITS.dhtDatagramBytes);
        decodeKrpc(b);
        const cut = at % b.length;
        try {
          decodeKrpc(b.subarray(0, cut));
          assert.fail('a cut datagram decoded');
        } catch (err) {
          assertCode(err, 'EKRPC');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a node fed any datagrams from any senders never throws and keeps its state bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(hostileDatagram, fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 40 }),
        (list) => {
          const net = new SimNetwork({ seed: 1, minLatencyMs: 1, maxLatencyMs: 1 });
          const { node, endpoint } = net.addNode({ maxPending: 16 });
          node.start([]);
          for (const [datagram, sender] of list) {
            net.deliver(datagram, { host: `10.1.0.${sender}`, port: 1000 + sender }, endpoint);
          }
          net.clock.advance(10);
          const s = node.stats();
          assert.ok(s.inFlight <= 16);
          assert.equal(s.received + s.malformed + s.rateLimited, list.length);
          // Nobody answered any of our queries, so nobody is in the table.
          assert.equal(s.nodes, 0);
          net.clock.advance(10_000);
          assert.equal(node.stats().inFlight, 0);
          node.close();
        },
      ),
      { numRuns: Math.max(50, RUNS / 10) },
    );
  });
});

const pexPeer: fc.Arbitrary<PexPeer> = fc.record({
  host: fc.oneof(
    ipv4,
    fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => toV6(Buffer.from(b))),
  ),
  port,
  flags: fc.nat(255),
});

function toV6(b: Buffer): string {
  // Not an IPv4-mapped address, which would come back as IPv4.
  b[10] = 0;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

const validPex = fc
  .record({
    added: fc.array(pexPeer, { maxLength: 50 }),
    dropped: fc.array(fc.record({ host: ipv4, port }), { maxLength: 50 }),
  })
  .map((m) => ({ m, bytes: encodePex(m) }));

describe('ut_pex fuzz', () => {
  it('round-trips valid messages (as sets of IPv4 and IPv6 peers)', () => {
    fc.assert(
      fc.property(validPex, ({ m, bytes }) => {
        const back = decodePex(bytes);
        // IPv4 peers come back first, then IPv6 ones; addresses in their usual text form.
        const key = (p: { host: string; port: number; flags?: number }) =>
          `${normalizeIp(p.host)}|${p.port}|${p.flags ?? ''}`;
        assert.deepEqual(back.added.map(key).sort(), m.added.map(key).sort());
        assert.deepEqual(back.dropped.map(key), m.dropped.map(key));
      }),
      { numRuns: RUNS },
    );
  });

  it('decodes or throws EWIRE_MESSAGE for mutated and random payloads, and keeps at most 100 per list', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(validPex, edits).map(([v, e]) => mutate(v.bytes, e)),
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
        ),
        (b) => {
          try {
            const m = decodePex(b);
            assert.ok(m.added.length <= LIMITS.pexMaxReceivedPeers);
            assert.ok(m.dropped.length <= LIMITS.pexMaxReceivedPeers);
          } catch (err) {
            assertCode(err, 'EWIRE_MESSAGE');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
