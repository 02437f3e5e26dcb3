import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RarityOrder, randomBelow } from '../../src/picker/rarity.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { seeded } from './helpers.js';

function visitAll(order: RarityOrder, min: number, random: () => number): number[] {
  const seen: number[] = [];
  order.scanRarest(min, random, (p) => {
    seen.push(p);
    return false;
  });
  return seen;
}

describe('RarityOrder', () => {
  it('scans the wanted pieces rarest group first and stops when told', () => {
    const order = new RarityOrder(6, Bitfield.fromString('010000'), seeded(1));
    for (const [piece, times] of [
      [0, 3],
      [1, 1],
      [2, 1],
      [3, 2],
      [5, 2],
    ] as const) {
      for (let i = 0; i < times; i++) order.increment(piece);
    }
    // availability by piece: 3, had, 1, 2, 0, 2 → scan order 4, 2, {3, 5}, 0
    const seen = visitAll(order, 0, seeded(2));
    assert.equal(seen.length, 5);
    assert.equal(seen[0], 4);
    assert.equal(seen[1], 2);
    assert.deepEqual(seen.slice(2, 4).sort(), [3, 5]);
    assert.equal(seen[4], 0);
    assert.deepEqual(visitAll(order, 3, seeded(2)), [0]);
    const stopped: number[] = [];
    order.scanRarest(1, seeded(3), (p) => {
      stopped.push(p);
      return stopped.length === 2;
    });
    assert.equal(stopped.length, 2);
    assert.equal(order.availability(1), 1);
    assert.equal(order.isWanted(1), false);
  });

  it('random scans cover every wanted piece at or above the floor once', () => {
    const order = new RarityOrder(5, new Bitfield(5), seeded(4));
    order.increment(1);
    order.increment(3);
    order.increment(3);
    const seen: number[] = [];
    order.scanRandom(1, seeded(5), (p) => {
      seen.push(p);
      return false;
    });
    assert.deepEqual(seen.sort(), [1, 3]);
  });

  it('randomBelow stays in range for any random source', () => {
    assert.equal(
      randomBelow(() => 0.999999, 3),
      2,
    );
    assert.equal(
      randomBelow(() => 1, 3),
      2,
    );
    assert.equal(
      randomBelow(() => Number.NaN, 3),
      0,
    );
    assert.equal(
      randomBelow(() => -1, 3),
      0,
    );
  });

  it('keeps groups sorted and complete under any sequence of changes', () => {
    const op = fc.record({ kind: fc.constantFrom('inc', 'dec', 'retire'), piece: fc.nat(), seed: fc.nat() });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(op, { maxLength: 300 }),
        fc.nat(),
        (n, ops, seed) => {
          const order = new RarityOrder(n, new Bitfield(n), seeded(seed));
          const count = new Array<number>(n).fill(0);
          const had = new Set<number>();
          for (const { kind, piece: raw, seed: s } of ops) {
            const piece = raw % n;
            if (kind === 'inc') {
              order.increment(piece);
              count[piece]!++;
            } else if (kind === 'dec') {
              order.decrement(piece);
              if (count[piece]! > 0) count[piece]!--;
            } else {
              order.retire(piece);
              had.add(piece);
            }
            const seen = visitAll(order, 0, seeded(s));
            assert.equal(order.wantedCount, n - had.size);
            assert.deepEqual(
              [...seen].sort((a, b) => a - b),
              [...Array(n).keys()].filter((p) => !had.has(p)),
            );
            for (let i = 1; i < seen.length; i++) {
              assert.ok(count[seen[i - 1]!]! <= count[seen[i]!]!, 'scan out of availability order');
            }
            for (let p = 0; p < n; p++) {
              assert.equal(order.availability(p), count[p]);
              assert.equal(order.isWanted(p), !had.has(p));
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
