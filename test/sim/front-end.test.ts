/**
 * What a front end (the shell, the web page) may do to one peer, on the fake clock: it names the peer by
 * the address torrentStatus lists, and never holds the connection itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { torrentStatus } from '../../src/session/status.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { Swarm } from '../../src/sim/swarm.js';

describe("the session's moves on one peer, by address", () => {
  it('finds, reads, fetches from and closes a peer by the address status lists', async () => {
    // A slow seeder, so that the leecher is still downloading while the moves run.
    const swarm = new Swarm(
      parseScenario({
        name: 'front-end',
        sizeMiB: 1,
        pieceKiB: 64,
        latencyMs: 10,
        groups: [
          { role: 'seeder', upKiBps: 32 },
          { role: 'leecher', count: 1 },
        ],
      }),
    );
    swarm.start();
    const [seeder, leecher] = swarm.peers;
    const connected = (): string | undefined =>
      leecher!.session?.connectedAddress(seeder!.address, seeder!.port);
    await swarm.advanceUntil(
      () => connected() !== undefined && torrentStatus(leecher!.session!).peers.length > 0,
      10_000,
    );
    const s = leecher!.session!;
    const address = connected()!;
    assert.deepEqual(
      torrentStatus(s).peers.map((p) => p.address),
      [address],
      'the address is the one status lists',
    );

    const pieces = s.piecesOf(address)!;
    assert.equal(pieces.count, s.pieceCount, 'the seeder holds every piece');
    pieces.clear(0);
    assert.equal(s.piecesOf(address)!.count, s.pieceCount, 'a front end gets a copy, not the live field');

    const missing = s.have.missing().at(-1)!;
    let fetched = false;
    s.fetchPiece(address, missing).then(() => {
      fetched = true;
    });
    await swarm.advanceUntil(() => fetched, swarm.clock.now() + 60_000);
    assert.ok(s.have.has(missing), `piece ${missing} fetched by address`);

    const nobody = '127.0.0.99:1';
    assert.equal(s.connectedAddress('127.0.0.99', 1), undefined);
    assert.equal(s.piecesOf(nobody), undefined);
    await assert.rejects(
      s.fetchPiece(nobody, 0),
      (err: unknown) => isChunkswarmError(err, 'EPEER') && /is not connected/.test(err.message),
    );
    assert.equal(s.disconnectPeer(address, 'closed by the test'), true);
    await swarm.advanceUntil(() => connected() === undefined, swarm.clock.now() + 1000);
    assert.equal(connected(), undefined, 'the connection is gone');
    assert.equal(s.disconnectPeer(address, 'again'), false);
    await swarm.close();
  });
});
