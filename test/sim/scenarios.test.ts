/**
 * Each scenario of sim/scenarios/, shrunk to a few MiB, run on the simulator with the real session: what
 * must come out of it (everyone finishes with the right bytes, the corrupt peer is banned, the free riders
 * come last, the seeder's first pass saves it uploads). Outcomes only: nothing here measures wall time.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseScenario, type Scenario } from '../../src/sim/scenario.js';
import { type SimResult, Swarm } from '../../src/sim/swarm.js';

function load(name: string, changes: Partial<Scenario> = {}): Scenario {
  const json: unknown = JSON.parse(
    readFileSync(new URL(`../../sim/scenarios/${name}.json`, import.meta.url), 'utf8'),
  );
  return { ...parseScenario(json), ...changes };
}

/** Runs to the end; `before` looks at the swarm while its connections are still up. */
async function run(
  scenario: Scenario,
  before?: (swarm: Swarm) => void,
  opts: { loopback?: boolean } = {},
): Promise<{ swarm: Swarm; result: SimResult }> {
  const swarm = new Swarm(scenario, opts);
  swarm.start();
  const result = await swarm.run();
  before?.(swarm);
  await swarm.close();
  return { swarm, result };
}

function assertAllCorrect(r: SimResult): void {
  assert.equal(r.allComplete, true, `${r.incomplete} leechers did not finish`);
  assert.equal(r.badPieces, 0, 'every piece stored is byte for byte the content');
}

describe('simulated scenarios', () => {
  it('flash crowd: every leecher finishes with the right bytes, the seeder sends a few copies', async () => {
    const { swarm, result } = await run(load('flash-crowd', { sizeMiB: 4 }));
    // Every session assembled its pieces in the one pool (Env.pieceBuffers), and the bytes still came out right.
    assert.equal(new Set(swarm.peers.map((p) => p.session?.buffers)).size, 1);
    assertAllCorrect(result);
    assert.equal(result.hashFailures, 0);
    assert.ok(result.seederCopies >= 1, 'the seeder sent every piece at least once');
    assert.ok(result.shareRatio.median > 0.5, 'leechers trade among themselves');
    assert.ok(result.efficiency! > 0 && result.efficiency! <= 1, 'no run beats the fluid bound');
  });

  it('churn: peers that stay finish, and those that left (announced or crashed) held only good pieces', async () => {
    const { swarm, result } = await run(load('churn', { sizeMiB: 4 }));
    assertAllCorrect(result);
    const left = swarm.peers.filter((p) => p.leftAt !== undefined);
    assert.ok(left.some((p) => p.group.leaveHow === 'crash' && p.completedAt === undefined));
    assert.ok(left.some((p) => p.role === 'seeder'));
  });

  it('corrupt peer: every leecher that took its blocks bans it, and all end with the right bytes', async () => {
    // A leecher may finish without a block from it (every piece it lacked came from honest peers first): it
    // has nothing to hold against it, and it is not connected to it at the end either.
    let connectedToIt = 0;
    const tookFromIt = new Set<string>();
    const swarm = new Swarm(load('corrupt-peer'));
    swarm.start();
    const address = swarm.peers.find((p) => p.role === 'corrupt')!.address;
    await swarm.advanceUntil(() => swarm.peers.every((p) => p.session !== undefined), 2000);
    for (const p of swarm.peers) {
      const session = p.session!;
      if (p.role !== 'leecher') continue;
      const onMessage = session.onMessage.bind(session);
      session.onMessage = (peer, m) => {
        if (m.type === 'piece' && peer.ip === address) tookFromIt.add(p.name);
        onMessage(peer, m);
      };
    }
    const result = await swarm.run();
    for (const p of swarm.peers)
      for (const c of p.session?.peers.values() ?? []) if (c.ip === address) connectedToIt++;
    await swarm.close();
    assertAllCorrect(result);
    assert.ok(result.hashFailures > 0, 'its pieces failed');
    assert.equal(result.corruptBans.length, 1);
    assert.ok(
      tookFromIt.size >= result.leechers / 2,
      `${tookFromIt.size} of ${result.leechers} took its blocks`,
    );
    assert.equal(result.corruptBans[0]!.bannedBy, tookFromIt.size);
    assert.equal(connectedToIt, 0, 'nobody is still connected to it');
    for (const p of swarm.peers)
      if (tookFromIt.has(p.name)) assert.equal(p.session!.verifying.banned.size, 1, `${p.name} banned it`);
  });

  it('free rider: finishes after the honest leechers', async () => {
    const { swarm, result } = await run(load('free-rider', { sizeMiB: 12 }));
    assertAllCorrect(result);
    const honest = swarm.peers.filter((p) => p.role === 'leecher').map((p) => p.completedAt!);
    honest.sort((a, b) => a - b);
    const median = honest[honest.length >> 1]!;
    for (const p of swarm.peers.filter((q) => q.role === 'free-rider')) {
      assert.ok(
        p.completedAt! > median,
        `free rider done at ${p.completedAt} ms, honest median ${median} ms`,
      );
      assert.equal(p.uploaded, 0, 'it never served a block');
    }
  });

  it('super-seeding: the seeder sends fewer copies, and the swarm finishes sooner, with its first pass on', async () => {
    // At the files' 8 MiB: on a much smaller torrent the first pass is over too soon to matter.
    const on = (await run(load('super-seeding-on'))).result;
    const off = (await run(load('super-seeding-off'))).result;
    assertAllCorrect(on);
    assertAllCorrect(off);
    assert.ok(on.seederCopies < off.seederCopies, `copies on ${on.seederCopies}, off ${off.seederCopies}`);
    assert.ok(on.lastFinish! < off.lastFinish!, `last finish on ${on.lastFinish} s, off ${off.lastFinish} s`);
  });

  it('loopback: the same swarm on real sockets (127.0.0.1) and a real tracker finishes with the right bytes', async () => {
    const scenario = load('flash-crowd', { sizeMiB: 1, capSeconds: 60 });
    const small = {
      ...scenario,
      groups: scenario.groups.map((g) => (g.role === 'leecher' ? { ...g, count: 4 } : g)),
    };
    const { result } = await run(small, undefined, { loopback: true });
    assert.equal(result.mode, 'loopback');
    assertAllCorrect(result);
  });
});
