import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wallLeft } from '../../src/sim/report.js';

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
