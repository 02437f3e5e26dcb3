/**
 * A leecher steered by a seeder's suggestions (its first pass) while its own hashing lags: the pieces it
 * has fetched and is still verifying must not fill its list of suggestions, or the seeder's next ones are
 * dropped, and the leecher, waiting for suggestions that never come, idles for seconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseScenario } from '../../src/sim/scenario.js';
import { Swarm } from '../../src/sim/swarm.js';
import type { PieceHasher } from '../../src/storage/index.js';

describe('suggestions while verification lags', () => {
  it('a leecher keeps taking the seeder suggestions while dozens of its pieces wait to be hashed', async () => {
    const swarm = new Swarm(
      parseScenario({
        name: 'slow-hash',
        sizeMiB: 16,
        pieceKiB: 64,
        latencyMs: 5,
        hasher: 'compare',
        groups: [
          { role: 'seeder', count: 1, upKiBps: 65_536 },
          { role: 'leecher', count: 1, downKiBps: 65_536 },
        ],
      }),
    );
    swarm.start();
    const leecher = swarm.peers[1]!;
    await swarm.advanceUntil(() => leecher.session !== undefined, 5000);
    // Each piece takes 2 virtual seconds to hash: 16 MiB arrive in a quarter second, 256 pieces wait.
    const hasher = leecher.session!.hasher;
    const sha1 = hasher.sha1.bind(hasher);
    (hasher as { sha1: PieceHasher['sha1'] }).sha1 = (data, opts) =>
      new Promise((resolve, reject) => {
        swarm.clock.setTimeout(() => sha1(data, opts).then(resolve, reject), 2000);
      });
    await swarm.advanceUntil(() => leecher.completedAt !== undefined, 60_000);
    assert.ok(leecher.completedAt !== undefined, 'the leecher finished');
    // 0.25 s of transfer and 2 s of hashing behind it; a dropped suggestion cost a 10 s wait.
    assert.ok(leecher.completedAt < 6000, `finished at ${leecher.completedAt} ms`);
    await swarm.close();
  });
});

describe('pieces waiting to be hashed', () => {
  it('hold back new requests once 32 MiB of them wait, so a lagging hasher does not queue the torrent in memory', async () => {
    const swarm = new Swarm(
      parseScenario({
        name: 'slow-hash-memory',
        sizeMiB: 128,
        // No first pass: the seeder's suggestions would pace the leecher by themselves.
        superSeeding: false,
        pieceKiB: 1024,
        latencyMs: 5,
        hasher: 'compare',
        groups: [
          { role: 'seeder', count: 1, upKiBps: 65_536 },
          { role: 'leecher', count: 1, downKiBps: 65_536 },
        ],
      }),
    );
    swarm.start();
    const leecher = swarm.peers[1]!;
    await swarm.advanceUntil(() => leecher.session !== undefined, 5000);
    const session = leecher.session!;
    // A piece takes 3 virtual seconds to hash, and about 20 MiB arrive each second: without a bound, half
    // the torrent would wait in memory.
    const hasher = session.hasher;
    const sha1 = hasher.sha1.bind(hasher);
    (hasher as { sha1: PieceHasher['sha1'] }).sha1 = (data, opts) =>
      new Promise((resolve, reject) => {
        swarm.clock.setTimeout(() => sha1(data, opts).then(resolve, reject), 3000);
      });
    let most = 0;
    swarm.clock.setInterval(() => {
      most = Math.max(most, session.verifying.inProgress);
    }, 10);
    await swarm.advanceUntil(() => leecher.completedAt !== undefined, 120_000);
    assert.ok(leecher.completedAt !== undefined, 'the leecher finished');
    // 32 pieces of 1 MiB, and the blocks in flight when the bound is reached (a few pieces): 58 without it.
    assert.ok(most <= 40, `${most} pieces of 1 MiB waited to be hashed at once`);
    assert.ok(most >= 16, `the hasher lagged: ${most} pieces waited at once`);
    await swarm.close();
  });
});
