import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/dht/krpc.js';
import type { DhtNode } from '../../src/dht/node.js';
import { DHT_ANNOUNCE_INTERVAL_MS, DhtPeerSource } from '../../src/dht/peer-source.js';
import { SimNetwork } from '../../src/dht/sim.js';

async function network(n: number): Promise<{ net: SimNetwork; nodes: DhtNode[] }> {
  const net = new SimNetwork({ seed: 21 });
  return { net, nodes: (await net.grow(n, { settleMs: 20_000 })).nodes };
}

describe('DhtPeerSource: the DHT as a torrent peer source', () => {
  it('two peers of one torrent find each other, and announce again every 15 minutes', async () => {
    const { net, nodes } = await network(60);
    const infoHash = net.randomBytes(20);
    const seen: { a: Endpoint[]; b: Endpoint[] } = { a: [], b: [] };
    const torrent = { private: false };
    const a = DhtPeerSource.for(nodes[10]!, torrent, {
      infoHash,
      port: 7001,
      clock: net.clock,
      onPeers: (p) => seen.a.push(...p),
    })!;
    const b = DhtPeerSource.for(nodes[40]!, torrent, {
      infoHash,
      port: 7002,
      clock: net.clock,
      onPeers: (p) => seen.b.push(...p),
    })!;
    a.start();
    await net.advance(5_000);
    b.start();
    await net.advance(5_000);
    // b's first round found a, which had announced; a learns of b in its next round.
    assert.deepEqual(seen.b, [{ host: '10.0.0.11', port: 7001 }]);
    assert.equal(seen.a.length, 0);
    assert.equal(a.status().rounds, 1);
    assert.equal(a.status().lastAnnouncedTo, 8);
    await net.advance(DHT_ANNOUNCE_INTERVAL_MS);
    assert.equal(a.status().rounds, 2);
    // It hears of b, and of itself (a node cannot tell its own address as others see it: the session
    // drops a connection to itself by peer id).
    assert.deepEqual(seen.a.map((p) => `${p.host}:${p.port}`).sort(), ['10.0.0.11:7001', '10.0.0.41:7002']);
    // On demand: one extra round at a time.
    const before = b.status().rounds;
    b.lookupNow();
    b.lookupNow();
    assert.equal(b.status().running, true);
    await net.advance(5_000);
    assert.equal(b.status().rounds, before + 1);
    a.stop();
    b.stop();
    const found = seen.a.length;
    await net.advance(2 * DHT_ANNOUNCE_INTERVAL_MS, 1000);
    assert.equal(a.status().rounds, 2);
    assert.equal(seen.a.length, found);
  });

  it('none for a private torrent (BEP 27)', async () => {
    const { net, nodes } = await network(2);
    const s = DhtPeerSource.for(
      nodes[0]!,
      { private: true },
      {
        infoHash: net.randomBytes(20),
        port: 1,
        clock: net.clock,
        onPeers: () => {},
      },
    );
    assert.equal(s, undefined);
  });

  it('retries every 30 s while no node takes the announce', async () => {
    const net = new SimNetwork({ seed: 2 });
    const { node } = net.addNode();
    node.start([]);
    const s = DhtPeerSource.for(
      node,
      { private: false },
      {
        infoHash: net.randomBytes(20),
        port: 1,
        clock: net.clock,
        onPeers: () => {},
      },
    )!;
    s.start();
    await net.advance(95_000, 1000);
    assert.equal(s.status().rounds, 4);
    assert.equal(s.status().lastAnnouncedTo, 0);
    s.stop();
  });
});
