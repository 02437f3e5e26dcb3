/**
 * A leecher whose hashing lags behind a fast seeder, on the fake clock: the pieces it has fetched and is
 * still verifying must not fill its list of the seeder's suggestions (the next ones were dropped, and it
 * idled waiting for them), and they must not pile up in memory without bound.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_UNSTORED_BYTES } from '../../src/session/requesting.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { type SimPeer, Swarm } from '../../src/sim/swarm.js';
import type { PieceHasher } from '../../src/storage/index.js';

/** One seeder and one leecher at 64 MiB/s, the leecher's hashing slowed to `hashMs` a piece. */
async function slowHashPair(
  shape: { sizeMiB: number; pieceKiB: number; superSeeding?: boolean },
  hashMs: number,
): Promise<{ swarm: Swarm; leecher: SimPeer }> {
  const swarm = new Swarm(
    parseScenario({
      name: 'slow-hash',
      latencyMs: 5,
      hasher: 'compare',
      ...shape,
      groups: [
        { role: 'seeder', count: 1, upKiBps: 65_536 },
        { role: 'leecher', count: 1, downKiBps: 65_536 },
      ],
    }),
  );
  swarm.start();
  const leecher = swarm.peers[1]!;
  await swarm.advanceUntil(() => leecher.session !== undefined, 5000);
  const hasher = leecher.session!.hasher;
  const sha1 = hasher.sha1.bind(hasher);
  (hasher as { sha1: PieceHasher['sha1'] }).sha1 = (data, opts) =>
    new Promise((resolve, reject) => {
      swarm.clock.setTimeout(() => sha1(data, opts).then(resolve, reject), hashMs);
    });
  return { swarm, leecher };
}

describe('a leecher whose hashing lags', () => {
  it('keeps taking the seeder suggestions while dozens of its pieces wait to be hashed', async () => {
    // 16 MiB arrive in a quarter second and 256 pieces wait, 2 virtual seconds each.
    const { swarm, leecher } = await slowHashPair({ sizeMiB: 16, pieceKiB: 64 }, 2000);
    await swarm.advanceUntil(() => leecher.completedAt !== undefined, 60_000);
    assert.ok(leecher.completedAt !== undefined, 'the leecher finished');
    // 0.25 s of transfer and 2 s of hashing behind it; a dropped suggestion cost a 10 s wait.
    assert.ok(leecher.completedAt < 6000, `finished at ${leecher.completedAt} ms`);
    await swarm.close();
  });

  it('holds back new requests once 16 MiB of pieces wait, so it does not queue the torrent in memory', async () => {
    // No first pass (the seeder's suggestions would pace the leecher by themselves). A piece takes 3 virtual
    // seconds to hash and about 20 MiB arrive each second: without a bound, half the torrent would wait.
    const { swarm, leecher } = await slowHashPair(
      { sizeMiB: 128, pieceKiB: 1024, superSeeding: false },
      3000,
    );
    const session = leecher.session!;
    let most = 0;
    swarm.clock.setInterval(() => {
      most = Math.max(most, session.verifying.inProgress);
    }, 10);
    await swarm.advanceUntil(() => leecher.completedAt !== undefined, 120_000);
    assert.ok(leecher.completedAt !== undefined, 'the leecher finished');
    // The bound's pieces of 1 MiB, and the blocks in flight when it is reached (a few pieces): 58 without it.
    const bound = MAX_UNSTORED_BYTES / 2 ** 20;
    assert.ok(most <= bound + 8, `${most} pieces of 1 MiB waited to be hashed at once`);
    assert.ok(most >= bound / 2, `the hasher lagged: ${most} pieces waited at once`);
    await swarm.close();
  });
});
