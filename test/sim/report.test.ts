import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatResult, wallLeft } from '../../src/sim/report.js';
import type { SimResult } from '../../src/sim/swarm.js';

describe("the simulator's progress line", () => {
  it('estimates the wall time left from the pace of the last ten virtual seconds', () => {
    // The 1,000-peer run's line at 20 virtual s: 8.1% held at 74 s of wall, 23.4% at 152 s.
    assert.equal(
      wallLeft({ wall: 74, share: 0.081 }, { wall: 152, share: 0.234 }),
      ', about 7 min of wall left',
    );
    assert.equal(wallLeft({ wall: 10, share: 0.5 }, { wall: 12, share: 0.9 }), ', about 1 s of wall left');
  });

  it('says nothing before it has a pace, when nothing moved, or when all is held', () => {
    assert.equal(wallLeft(undefined, { wall: 70, share: 0.08 }), '');
    assert.equal(wallLeft({ wall: 70, share: 0.5 }, { wall: 80, share: 0.5 }), '');
    assert.equal(wallLeft({ wall: 70, share: 0.9 }, { wall: 80, share: 1 }), '');
  });
});

describe("the simulator's result", () => {
  const result: SimResult = {
    scenario: 'flash-crowd',
    mode: 'simulated',
    hasher: 'sha1',
    capacities: { model: 'link', latencyMs: 10 },
    peers: 8,
    leechers: 7,
    torrentBytes: 8 << 20,
    pieceCount: 32,
    allComplete: true,
    incomplete: 0,
    lastFinish: 15.3,
    fluidBound: 12.8,
    efficiency: 12.8 / 15.3,
    seederCopies: 1.84,
    shareRatio: { min: 0.8, median: 1, max: 1.2 },
    medianFinish: 14,
    freeRiderFinish: [],
    corruptBans: [],
    hashFailures: 0,
    badPieces: 0,
    virtualSeconds: 15.3,
    wallSeconds: 0.8,
    clockSteps: 100,
    networkEvents: 1000,
  };
  const row = (text: string) => text.split('\n').find((l) => l.startsWith('capacities'));

  it('says what capped the peers, so a loopback run is compared with the like run', () => {
    assert.equal(
      row(formatResult(result)),
      'capacities                    links with a queue, 10 ms of latency',
    );
    assert.match(
      row(formatResult({ ...result, capacities: { model: 'limit', latencyMs: 1 } }))!,
      /own rate limits over an unlimited link, 1 ms of latency$/,
    );
    assert.match(
      row(formatResult({ ...result, mode: 'loopback', capacities: { model: 'limit', latencyMs: 0 } }))!,
      /on 127\.0\.0\.1 \(compare with "uplinks": "limit" in the simulator\)$/,
    );
  });
});
