/**
 * Whole DHT networks in memory (src/dht/sim.ts): real `DhtNode`s exchanging real KRPC datagrams with a
 * random delay, on a simulated clock. No sockets and no real time, so hundreds of nodes fit in a test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, dictGet, encode, isDict } from '../../src/codec/index.js';
import { decodeKrpc, encodeQuery } from '../../src/dht/krpc.js';
import type { DhtNode } from '../../src/dht/node.js';
import { SimNetwork } from '../../src/dht/sim.js';
import { LIMITS } from '../../src/shared/limits.js';

/** A network of `n` nodes joined one after another through the first. */
async function network(n: number, seed: number): Promise<{ net: SimNetwork; nodes: DhtNode[] }> {
  const net = new SimNetwork({ seed });
  return { net, nodes: (await net.grow(n)).nodes };
}

describe('DHT network in memory', () => {
  it('200 nodes: a get_peers lookup finds a peer announced from elsewhere in the network', async () => {
    const { net, nodes } = await network(200, 42);
    for (const n of nodes) assert.ok(n.stats().nodes >= 8, `a node knows only ${n.stats().nodes} others`);
    const infoHash = net.randomBytes(20);
    const announced = await net.run(nodes[17]!.announce(infoHash, 51413));
    assert.equal(announced.announcedTo, 8, 'the 8 closest nodes took the announce');
    // Every other node can find it; try a few spread over the network.
    for (const i of [3, 99, 150, 199]) {
      const seen: string[] = [];
      const r = await net.run(
        nodes[i]!.getPeers(infoHash, (peers) => seen.push(...peers.map((p) => `${p.host}:${p.port}`))),
      );
      const peers = r.peers.map((p) => `${p.host}:${p.port}`);
      assert.deepEqual(peers, ['10.0.0.18:51413'], `node ${i} found ${peers.join(', ')}`);
      assert.deepEqual(seen, peers, 'the callback saw the same peers as they came');
      assert.ok(r.queries <= LIMITS.dhtLookupMaxQueries);
    }
    // An infohash nobody announced: the lookup ends with nothing.
    const none = await net.run(nodes[50]!.getPeers(net.randomBytes(20)));
    assert.deepEqual(none.peers, []);
    assert.equal(none.closest.length, 8);
    for (const n of nodes) n.close();
  });

  it('an announce with implied_port stores the UDP source port, and a restarted node rejoins from saved nodes', async () => {
    const { net, nodes } = await network(30, 5);
    const infoHash = net.randomBytes(20);
    await net.run(nodes[4]!.announce(infoHash));
    const r = await net.run(nodes[20]!.getPeers(infoHash));
    assert.deepEqual(r.peers, [{ host: '10.0.0.5', port: 6881 }]);
    // A node that knows only saved contacts (no bootstrap) joins through them.
    const saved = nodes[7]!.nodes();
    const { node: fresh } = net.addNode();
    for (const c of saved) fresh.addNode(c);
    fresh.start([]);
    await net.advance(10_000);
    assert.ok(fresh.stats().nodes >= 8);
    const again = await net.run(fresh.getPeers(infoHash));
    assert.equal(again.peers.length, 1);
  });

  it('a small isolated network ends its lookups and then stays nearly silent', async () => {
    const { net, nodes } = await network(3, 9);
    const target = net.randomBytes(20);
    const r = await net.run(nodes[2]!.getPeers(target));
    assert.ok(r.queries <= 3, `a lookup among 3 nodes sent ${r.queries} queries`);
    assert.equal(r.closest.length, 2);
    // Ten minutes with nothing to do: only the periodic checks, no lookup going round in circles.
    const before = net.counters.datagrams;
    await net.advance(10 * 60_000, 1000);
    assert.ok(
      net.counters.datagrams - before <= 12,
      `${net.counters.datagrams - before} datagrams while idle`,
    );
    // A node with no node at all and no bootstrap sends nothing.
    const lonely = net.addNode().node;
    lonely.start([]);
    assert.deepEqual((await net.run(lonely.getPeers(target))).peers, []);
    await net.advance(20 * 60_000, 1000);
    assert.equal(lonely.stats().sent, 0);
  });

  it('a bootstrap node that does not answer: the join gives up and retries once a maintenance round', async () => {
    const net = new SimNetwork({ seed: 3 });
    const { node } = net.addNode();
    node.start([{ host: '10.9.9.9', port: 6881 }]);
    await net.advance(60_000 * 5, 1000);
    // One query per round (the join and its retries), not a storm.
    assert.ok(net.counters.datagrams <= 6, `${net.counters.datagrams} datagrams to a dead bootstrap node`);
    assert.ok(node.stats().inFlight <= 1);
  });
});

describe('DHT node against hostile senders', () => {
  function target(): {
    net: SimNetwork;
    node: DhtNode;
    at: { host: string; port: number };
    replies: Buffer[];
  } {
    const net = new SimNetwork({ seed: 11, minLatencyMs: 1, maxLatencyMs: 1 });
    const { node, endpoint } = net.addNode();
    node.start([]);
    const replies: Buffer[] = [];
    // Only answers: the node also pings a stranger that queried it, to see whether it deserves a place.
    net.tap({ host: '10.66.0.1', port: 4000 }, (buf) => {
      if (decodeKrpc(buf).kind !== 'query') replies.push(buf);
    });
    return { net, node, at: endpoint, replies };
  }
  const attacker = { host: '10.66.0.1', port: 4000 };

  it('drops garbage and oversized datagrams without answering or keeping anything', async () => {
    const { net, node, at, replies } = target();
    const junk = [
      Buffer.alloc(0),
      Buffer.from('hello'),
      Buffer.alloc(1501, 0x31),
      Buffer.from(`d1:ad2:id20:${'x'.repeat(20)}e1:q4:ping1:t${'9'.repeat(20)}:`),
      encode({ a: { id: Buffer.alloc(20) }, q: 'ping', t: 'aa', y: 'z' }),
    ];
    for (const j of junk) net.deliver(j, attacker, at);
    await net.advance(100, 10);
    assert.equal(replies.length, 0);
    assert.equal(node.stats().malformed, junk.length);
    assert.equal(node.stats().nodes, 0);
  });

  it('answers a flood from one address and port only up to its rate, and still serves others', async () => {
    const { net, node, at, replies } = target();
    const ping = encodeQuery(Buffer.from('aa'), Buffer.alloc(20, 1), { method: 'ping' });
    for (let i = 0; i < 10_000; i++) net.deliver(ping, attacker, at);
    await net.advance(100, 10);
    const burst = LIMITS.dhtPerSenderRate * 2;
    assert.ok(replies.length <= burst + 10, `${replies.length} replies to a flood`);
    assert.ok(node.stats().rateLimited >= 10_000 - burst - 10);
    // Someone else is answered meanwhile.
    const honest: Buffer[] = [];
    const other = { host: '10.77.0.1', port: 5000 };
    net.tap(other, (b) => {
      if (decodeKrpc(b).kind !== 'query') honest.push(b);
    });
    net.deliver(ping, other, at);
    await net.advance(100, 10);
    assert.equal(honest.length, 1);
    assert.equal(decodeKrpc(honest[0]!).kind, 'response');
  });

  it('many strangers querying at once cost bounded pending pings and rate records', async () => {
    const { net, node, at } = target();
    for (let i = 0; i < 3000; i++) {
      const from = { host: `10.88.${i >> 8}.${i & 255}`, port: 7000 };
      net.deliver(encodeQuery(Buffer.from('ab'), net.randomBytes(20), { method: 'ping' }), from, at);
    }
    await net.advance(20, 5);
    // Each stranger whose bucket has room is pinged back (to earn a place), never more than half the
    // pending slots at once.
    assert.ok(node.stats().inFlight <= LIMITS.dhtMaxPending / 2, `${node.stats().inFlight} pending`);
    await net.advance(5000, 100);
    assert.equal(node.stats().inFlight, 0);
    // Nobody answered, so nobody got in.
    assert.equal(node.stats().nodes, 0);
  });

  it('refuses announce_peer without a valid token, and takes one it handed out', async () => {
    const { net, node, at, replies } = target();
    const infoHash = Buffer.alloc(20, 9);
    const id = Buffer.alloc(20, 2);
    const t = Buffer.from('zz');
    net.deliver(
      encodeQuery(t, id, {
        method: 'announce_peer',
        infoHash,
        port: 6000,
        token: Buffer.from('forged!!'),
        impliedPort: false,
      }),
      attacker,
      at,
    );
    await net.advance(10, 5);
    const refused = decodeKrpc(replies.shift()!);
    assert.ok(refused.kind === 'error' && refused.code === 203);
    assert.equal(node.stats().storedPeers, 0);
    net.deliver(encodeQuery(t, id, { method: 'get_peers', infoHash }), attacker, at);
    await net.advance(10, 5);
    const answer = decodeKrpc(replies.shift()!);
    assert.ok(answer.kind === 'response' && answer.body.token !== undefined);
    net.deliver(
      encodeQuery(t, id, {
        method: 'announce_peer',
        infoHash,
        port: 6000,
        token: answer.body.token,
        impliedPort: false,
      }),
      attacker,
      at,
    );
    await net.advance(10, 5);
    assert.equal(decodeKrpc(replies.shift()!).kind, 'response');
    assert.equal(node.stats().storedPeers, 1);
    // An unknown method gets error 204, with the sender's transaction id.
    net.deliver(encode({ a: { id }, q: 'sample_infohashes_x', t, y: 'q' }), attacker, at);
    await net.advance(10, 5);
    const e = decode(replies.shift()!);
    assert.ok(isDict(e));
    assert.deepEqual(dictGet(e, 't'), t);
    assert.equal((dictGet(e, 'e') as unknown[])[0], 204);
  });
});
