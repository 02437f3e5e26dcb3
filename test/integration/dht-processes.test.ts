/**
 * `chunkswarm dht` as real processes on loopback, and DHT nodes in this process over real UDP sockets:
 * an announce through one node is found by a get_peers lookup through another.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dhtStatePath, hasDhtNodes, openDht, type ProcessDht } from '../../src/cli/dht-process.js';
import type { Endpoint } from '../../src/dht/krpc.js';
import { type DhtUdp, startDhtUdp } from '../../src/dht/udp.js';
import { Harness, type Proc } from './harness.js';

async function startDht(
  h: Harness,
  extra: string[],
  port = 0,
): Promise<{ proc: Proc; port: number; id: string }> {
  const proc = h.cs(['dht', '--port', String(port), ...extra]);
  const m = await proc.waitFor(/dht node listening on udp:\/\/127\.0\.0\.1:(\d+)\n/);
  const id = await proc.waitFor(/dht node id ([0-9a-f]{40})/);
  return { proc, port: Number(m[1]), id: id[1]! };
}

/** Polls `check` every 200 ms until it holds or `ms` pass. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

describe('chunkswarm dht processes', () => {
  const h = new Harness();
  const local: DhtUdp[] = [];
  before(() => h.setup());
  after(async () => {
    for (const n of local) await n.close();
    await h.teardown();
  });

  it('three processes and two in-process nodes: get_peers finds the announced peer over real UDP', async () => {
    const state = join(h.dir, 'first.dht');
    const first = await startDht(h, ['--state', state]);
    // its own line, after the id: it may come in a later read than the line startDht waited for
    await first.proc.waitFor(/no bootstrap node/);
    const boot = [`127.0.0.1:${first.port}`];
    const second = await startDht(h, ['--bootstrap', ...boot]);
    const third = await startDht(h, ['--bootstrap', `127.0.0.1:${second.port}`]);

    const announcer = await startDhtUdp({ host: '127.0.0.1', port: 0 });
    const seeker = await startDhtUdp({ host: '127.0.0.1', port: 0 });
    local.push(announcer, seeker);
    announcer.node.start([{ host: '127.0.0.1', port: second.port }]);
    seeker.node.start([{ host: '127.0.0.1', port: third.port }]);
    // Joined: each knows the three processes and the other local node, once lookups went round.
    assert.ok(
      await eventually(
        async () => announcer.node.stats().nodes >= 3 && seeker.node.stats().nodes >= 3,
        30_000,
      ),
      `tables: ${announcer.node.stats().nodes}, ${seeker.node.stats().nodes}`,
    );

    const infoHash = randomBytes(20);
    const a = await announcer.node.announce(infoHash, 40_123);
    assert.ok(a.announcedTo >= 3, `announced to ${a.announcedTo} nodes`);
    const found = await seeker.node.getPeers(infoHash);
    assert.deepEqual(found.peers, [{ host: '127.0.0.1', port: 40_123 }]);

    // The first process saves its table and id when stopped, and takes the same id back (on the same
    // port, as a bootstrap node restarts: others know it by id and endpoint together).
    first.proc.child.kill('SIGTERM');
    assert.equal(await first.proc.exited(10_000), 0);
    assert.match(first.proc.output(), /dht node stopped: \d+ nodes known, \d+ peers stored/);
    assert.ok(existsSync(state));
    const again = await startDht(h, ['--state', state], first.port);
    assert.equal(again.id, first.id);
    assert.doesNotMatch(again.proc.output(), /no bootstrap node/);
    // Rejoined through its saved nodes: it knows some of them again.
    assert.ok(
      await eventually(async () => {
        const r = await seeker.node.findNode(Buffer.from(again.id, 'hex'));
        return r.some((n) => n.port === again.port);
      }, 30_000),
      'the restarted node is back in the network',
    );
  });

  it('refuses a bad --bootstrap with exit code 2', async () => {
    const p = h.cs(['dht', '--port', '0', '--bootstrap', '127.0.0.1']);
    assert.equal(await p.exited(10_000), 2);
    assert.match(p.output(), /--bootstrap wants HOST:PORT/);
  });
});

describe('openDht: the process node download and seed use', () => {
  const h = new Harness();
  const open: ProcessDht[] = [];
  before(() => h.setup());
  after(async () => {
    for (const d of open) await d.close();
    await h.teardown();
  });

  it('two torrents sessions find each other through track(), the table is saved, private torrents are left out', async () => {
    const boot = await startDht(h, []);
    const bootstrap = [{ host: '127.0.0.1', port: boot.port }];
    const outA = join(h.dir, 'a');
    const outB = join(h.dir, 'b');
    assert.equal(await hasDhtNodes([], dhtStatePath(outA)), false, 'no bootstrap, no saved table: no DHT');
    const a = await openDht({ host: '127.0.0.1', port: 0, bootstrap, statePath: dhtStatePath(outA) });
    const b = await openDht({ host: '127.0.0.1', port: 0, bootstrap, statePath: dhtStatePath(outB) });
    open.push(a, b);
    const infoHash = randomBytes(20);
    const seenByB: Endpoint[] = [];
    // The torrent's own nodes (BEP 5 `nodes`) by name: pinged once resolved.
    const sa = a.track(
      { infoHash, private: false, nodes: [{ host: 'localhost', port: boot.port }] },
      6001,
      () => {},
    );
    assert.ok(sa);
    assert.ok(await eventually(async () => sa.status().rounds > 0, 30_000));
    const sb = b.track({ infoHash, private: false }, 6002, (p) => seenByB.push(...p));
    assert.ok(sb);
    assert.ok(
      await eventually(async () => seenByB.some((p) => p.port === 6001), 30_000),
      `b found ${JSON.stringify(seenByB)}`,
    );
    assert.equal(
      a.track({ infoHash, private: true }, 6001, () => {}),
      undefined,
    );
    assert.ok(a.stats().nodes >= 1);
    sa.stop();
    sb.stop();
    await a.close();
    assert.equal(await hasDhtNodes([], dhtStatePath(outA)), true, 'the saved table counts as nodes');
  });
});
