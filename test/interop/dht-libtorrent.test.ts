/**
 * chunkswarm's DHT and libtorrent's (BEP 5), on loopback: a libtorrent seeder announces a trackerless
 * torrent through `chunkswarm dht` nodes and a chunkswarm node's get_peers finds its port; a chunkswarm
 * node announces a port and libtorrent's dht_get_peers finds it. libtorrent's loopback settings are in
 * lt_dht.py (see /work/shared/REFERENCE-CLIENTS.md, last section).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DhtUdp, startDhtUdp } from '../../src/dht/udp.js';
import { Harness, makeFile, type Proc } from '../integration/harness.js';
import { dhtPeersUntil, LT_DHT, ltMake, startLtDhtSeed } from './clients.js';
import { needPackages, PYTHON } from './gate.js';

async function startDht(h: Harness, bootstrap: number[]): Promise<{ proc: Proc; port: number }> {
  const args = ['dht', '--port', '0'];
  for (const p of bootstrap) args.push('--bootstrap', `127.0.0.1:${p}`);
  const proc = h.cs(args);
  const m = await proc.waitFor(/dht node listening on udp:\/\/127\.0\.0\.1:(\d+)\n/);
  return { proc, port: Number(m[1]) };
}

describe('DHT interop with libtorrent', () => {
  const h = new Harness();
  const local: DhtUdp[] = [];
  let ports: number[] = [];
  before(async () => {
    await h.setup();
  });
  after(async () => {
    for (const n of local) await n.close();
    await h.teardown();
  });

  /** Three chunkswarm dht processes, the second and third joined through the first. */
  async function network(): Promise<number[]> {
    if (ports.length > 0) return ports;
    const first = await startDht(h, []);
    const second = await startDht(h, [first.port]);
    const third = await startDht(h, [first.port]);
    ports = [first.port, second.port, third.port];
    return ports;
  }

  async function ourNode(bootstrap: number): Promise<DhtUdp> {
    const n = await startDhtUdp({ host: '127.0.0.1', port: 0 });
    local.push(n);
    n.node.start([{ host: '127.0.0.1', port: bootstrap }]);
    return n;
  }

  it('a libtorrent seeder announces a trackerless torrent into chunkswarm nodes; get_peers finds it', async (t) => {
    if (!needPackages(t, 'python3-libtorrent')) return;
    const nodes = await network();
    const data = join(h.dir, 'lt-seed', 'payload.bin');
    await makeFile(data, 256 * 1024, 'dht-interop');
    const torrent = join(h.dir, 'payload.torrent');
    const infoHash = await ltMake(data, torrent, { pieceLength: 16 * 1024 });
    const seeder = await startLtDhtSeed(h, {
      torrent,
      save: dirname(data),
      nodes: nodes.map((p) => `127.0.0.1:${p}`),
      maxSeconds: 90,
    });
    const want = seeder.address;
    const seeker = await ourNode(nodes[2]!);
    const found = await dhtPeersUntil(seeker.node, Buffer.from(infoHash, 'hex'), want, 60_000);
    assert.ok(
      found.has(want),
      `libtorrent's ${want} not found; got [${[...found].join(', ')}]\n${seeder.proc.output()}`,
    );
  });

  it("a chunkswarm node announces a port; libtorrent's dht_get_peers finds it", async (t) => {
    if (!needPackages(t, 'python3-libtorrent')) return;
    const nodes = await network();
    const announcer = await ourNode(nodes[1]!);
    // Joined once it knows the three processes.
    const joinBy = Date.now() + 10_000;
    while (announcer.node.stats().nodes < 3 && Date.now() < joinBy)
      await new Promise((r) => setTimeout(r, 100));
    const infoHash = randomBytes(20);
    const a = await announcer.node.announce(infoHash, 45_678);
    assert.ok(a.announcedTo >= 1, `announced to ${a.announcedTo} nodes`);
    const lookup = h.spawn(PYTHON, [
      LT_DHT,
      'lookup',
      '--infohash',
      infoHash.toString('hex'),
      '--want',
      '127.0.0.1:45678',
      ...nodes.flatMap((p) => ['--node', `127.0.0.1:${p}`]),
      '--max-seconds',
      '40',
    ]);
    assert.equal(await lookup.exited(60_000), 0, lookup.output());
    assert.match(lookup.output(), /found 127\.0\.0\.1:45678/);
  });
});
