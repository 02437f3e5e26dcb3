import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { BlockRef } from '../../src/picker/index.js';
import { PiecePicker } from '../../src/picker/index.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { seeded } from './helpers.js';

interface Geometry {
  pieceCount: number;
  pieceLength: number;
  totalLength: number;
  blockSize: number;
}

const keyOf = (b: BlockRef): string => `${b.index}:${b.begin}`;

/** The blocks of a piece, worked out independently of the picker. */
function blocksOf(g: Geometry, index: number): BlockRef[] {
  const size =
    index === g.pieceCount - 1 ? g.totalLength - g.pieceLength * (g.pieceCount - 1) : g.pieceLength;
  const out: BlockRef[] = [];
  for (let begin = 0; begin < size; begin += g.blockSize) {
    out.push({ index, begin, length: Math.min(g.blockSize, size - begin) });
  }
  return out;
}

/**
 * Drives a picker the way a session would and keeps an independent model of what is in flight,
 * received and verified, checking the picker's answers against it after every step.
 */
class Sim {
  readonly picker: PiecePicker;
  readonly bits = new Map<string, Bitfield>();
  readonly connected = new Set<string>();
  readonly inflight = new Map<string, Map<string, BlockRef>>();
  readonly received = new Set<string>();
  readonly have = new Set<number>();
  /** Pieces of priority 0 (files not selected). */
  readonly skip = new Set<number>();
  failuresLeft = 3;

  constructor(
    readonly g: Geometry,
    peerMasks: number[],
    haveMask: number,
    randomFirst: number,
    seed: number,
    readonly endgameQueue: number,
  ) {
    const have = new Bitfield(g.pieceCount);
    for (let i = 0; i < g.pieceCount; i++) if (haveMask & (1 << i)) have.set(i);
    for (const i of have.indexes()) this.have.add(i);
    this.picker = new PiecePicker(g, {
      blockSize: g.blockSize,
      random: seeded(seed),
      randomFirst,
      have,
      endgameQueue,
    });
    peerMasks.forEach((mask, n) => {
      const bits = new Bitfield(g.pieceCount);
      for (let i = 0; i < g.pieceCount; i++) if (mask & (1 << i)) bits.set(i);
      this.bits.set(`p${n}`, bits);
      this.inflight.set(`p${n}`, new Map());
      this.join(`p${n}`);
    });
  }

  get peers(): string[] {
    return [...this.bits.keys()];
  }

  join(peer: string): void {
    if (this.connected.has(peer)) return;
    this.picker.addPeer(peer, this.bits.get(peer)!);
    this.connected.add(peer);
  }

  leave(peer: string): void {
    this.picker.removePeer(peer);
    this.connected.delete(peer);
    this.inflight.get(peer)!.clear();
  }

  announce(peer: string, index: number): void {
    this.bits.get(peer)!.set(index);
    if (this.connected.has(peer)) this.picker.peerHave(peer, index);
  }

  inFlightAnywhere(key: string): boolean {
    for (const m of this.inflight.values()) if (m.has(key)) return true;
    return false;
  }

  /** New priorities from the bits of `mask` (bit i clear: skip piece i; set: normal or, with `high`, high). */
  prioritise(mask: number, high: number): void {
    const priorities = Array.from({ length: this.g.pieceCount }, (_, i) =>
      mask & (1 << i) ? (high & (1 << i) ? 2 : 1) : 0,
    );
    this.picker.setPriorities(priorities);
    this.skip.clear();
    priorities.forEach((p, i) => {
      if (p === 0) this.skip.add(i);
    });
  }

  wantedMissing(): number {
    let n = 0;
    for (let i = 0; i < this.g.pieceCount; i++) if (!this.have.has(i) && !this.skip.has(i)) n++;
    return n;
  }

  expectEndgame(): boolean {
    if (this.wantedMissing() === 0) return false;
    for (let i = 0; i < this.g.pieceCount; i++) {
      if (this.have.has(i) || this.skip.has(i)) continue;
      for (const b of blocksOf(this.g, i)) {
        const k = keyOf(b);
        if (!this.received.has(k) && !this.inFlightAnywhere(k)) return false;
      }
    }
    return true;
  }

  /**
   * How many blocks `pick(peer, max)` hands out now. In endgame the picker goes through the stream window's
   * blocks, then the others, each time those in flight nowhere before those in flight elsewhere, and takes
   * one of the latter only while fewer than `endgameQueue` blocks are in flight to the peer.
   */
  expectedPick(peer: string, max: number, endgame: boolean): number {
    const bits = this.bits.get(peer)!;
    const mine = this.inflight.get(peer)!;
    const w = this.picker.streamWindow;
    // [window, free], [window, elsewhere], [other, free], [other, elsewhere]
    const groups = [0, 0, 0, 0];
    for (let i = 0; i < this.g.pieceCount; i++) {
      if (this.have.has(i) || !bits.has(i) || this.skip.has(i)) continue;
      const inWindow = w !== undefined && i >= w.first && i < w.first + w.count;
      for (const b of blocksOf(this.g, i)) {
        const k = keyOf(b);
        if (this.received.has(k) || mine.has(k)) continue;
        const elsewhere = this.inFlightAnywhere(k);
        if (elsewhere && !endgame) continue;
        groups[(inWindow ? 0 : 2) + (elsewhere ? 1 : 0)]!++;
      }
    }
    if (!endgame)
      return Math.min(
        max,
        groups.reduce((a, n) => a + n, 0),
      );
    let taken = 0;
    let inFlight = mine.size;
    groups.forEach((n, g) => {
      const t = Math.min(n, max - taken, g % 2 === 1 ? Math.max(0, this.endgameQueue - inFlight) : n);
      taken += t;
      inFlight += t;
    });
    return taken;
  }

  pick(peer: string, max: number): void {
    if (!this.connected.has(peer)) {
      assert.deepEqual(this.picker.pick(peer, max), []);
      return;
    }
    const endgame = this.picker.inEndgame;
    assert.equal(endgame, this.expectEndgame(), 'inEndgame disagrees with the model');
    const expected = this.expectedPick(peer, max, endgame);
    const got = this.picker.pick(peer, max);
    assert.equal(got.length, expected, 'pick did not fill the budget it could fill');
    const mine = this.inflight.get(peer)!;
    const inCall = new Set<string>();
    for (const b of got) {
      const k = keyOf(b);
      assert.ok(
        blocksOf(this.g, b.index).some((x) => x.begin === b.begin && x.length === b.length),
        `malformed block ${k}`,
      );
      assert.ok(!this.have.has(b.index), `block ${k} of a piece we have`);
      assert.ok(!this.skip.has(b.index), `block ${k} of a skipped piece`);
      assert.ok(this.bits.get(peer)!.has(b.index), `block ${k} of a piece ${peer} lacks`);
      assert.ok(!inCall.has(k), `block ${k} twice in one pick`);
      assert.ok(!mine.has(k), `block ${k} already in flight to ${peer}`);
      assert.ok(!this.received.has(k), `block ${k} already received`);
      if (!endgame) assert.ok(!this.inFlightAnywhere(k), `block ${k} in flight elsewhere outside endgame`);
      inCall.add(k);
    }
    for (const b of got) mine.set(keyOf(b), b);
  }

  deliver(peer: string, key: string, failCoin: boolean): void {
    const b = this.inflight.get(peer)!.get(key)!;
    const others = this.peers.filter((p) => p !== peer && this.inflight.get(p)!.has(key)).sort();
    const r = this.picker.blockReceived(peer, b);
    assert.equal(r.wanted, true);
    assert.deepEqual([...r.cancel].sort(), others);
    for (const m of this.inflight.values()) m.delete(key);
    this.received.add(key);
    const all = blocksOf(this.g, b.index).map(keyOf);
    assert.equal(
      r.pieceDone,
      all.every((k) => this.received.has(k)),
    );
    if (!r.pieceDone) return;
    for (const k of all) this.received.delete(k);
    if (failCoin && this.failuresLeft > 0) {
      this.failuresLeft--;
      this.picker.pieceFailed(b.index);
    } else {
      this.picker.pieceVerified(b.index);
      this.have.add(b.index);
    }
  }

  /** The piece turned up complete by other means (a resume check): verified whatever its state. */
  foundOnDisk(index: number): void {
    this.picker.pieceVerified(index);
    this.have.add(index);
    for (const b of blocksOf(this.g, index)) {
      this.received.delete(keyOf(b));
      for (const m of this.inflight.values()) m.delete(keyOf(b));
    }
  }

  unsolicited(peer: string, b: BlockRef): void {
    if (this.inflight.get(peer)!.has(keyOf(b))) return;
    assert.deepEqual(this.picker.blockReceived(peer, b), { wanted: false, pieceDone: false, cancel: [] });
  }

  end(peer: string, key: string): void {
    this.picker.requestEnded(peer, this.inflight.get(peer)!.get(key)!);
    this.inflight.get(peer)!.delete(key);
  }

  /** Every (peer, block key) in flight, in a stable order. */
  flights(): [string, string][] {
    const out: [string, string][] = [];
    for (const [p, m] of this.inflight) for (const k of m.keys()) out.push([p, k]);
    return out;
  }

  check(): void {
    for (const p of this.peers) assert.equal(this.picker.inFlight(p), this.inflight.get(p)!.size);
    for (let i = 0; i < this.g.pieceCount; i++) {
      const holders = [...this.connected].filter((p) => this.bits.get(p)!.has(i)).length;
      assert.equal(this.picker.availability(i), holders, `availability of ${i}`);
      assert.equal(this.picker.have.has(i), this.have.has(i));
    }
    assert.equal(this.picker.missingCount(), this.g.pieceCount - this.have.size);
    assert.equal(this.picker.wantedMissingCount(), this.wantedMissing());
    assert.equal(this.picker.inEndgame, this.expectEndgame());
    const started = new Set<number>();
    for (const k of this.received) started.add(Number(k.split(':')[0]));
    for (const [, k] of this.flights()) started.add(Number(k.split(':')[0]));
    assert.deepEqual(
      this.picker.partialPieces(),
      [...started].sort((a, b) => a - b),
    );
  }
}

const geometry = fc
  .record({
    pieceCount: fc.integer({ min: 1, max: 8 }),
    pieceLength: fc.integer({ min: 1, max: 20 }),
    lastFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    blockSize: fc.integer({ min: 1, max: 6 }),
  })
  .map(({ pieceCount, pieceLength, lastFraction, blockSize }): Geometry => {
    const last = 1 + Math.min(pieceLength - 1, Math.floor(lastFraction * pieceLength));
    return { pieceCount, pieceLength, totalLength: (pieceCount - 1) * pieceLength + last, blockSize };
  });

const op = fc.record({
  kind: fc.constantFrom(
    'pick',
    'pick',
    'pick',
    'deliver',
    'deliver',
    'deliver',
    'unsolicited',
    'end',
    'have',
    'leave',
    'join',
    'disk',
    'priority',
    'window',
  ),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
});

describe('picker property', () => {
  it('random swarms complete, with no block in flight twice to one peer and none shared outside endgame', () => {
    fc.assert(
      fc.property(
        geometry,
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 3 }),
        fc.nat(),
        fc.array(op, { maxLength: 150 }),
        fc.integer({ min: 1, max: 4 }),
        (g, masks, haveMask, randomFirst, seed, ops, endgameQueue) => {
          const sim = new Sim(g, masks, haveMask, randomFirst, seed, endgameQueue);
          const peers = sim.peers;
          sim.check();
          for (const { kind, a, b, c } of ops) {
            const peer = peers[a % peers.length]!;
            const flights = sim.flights();
            if (kind === 'pick') sim.pick(peer, 1 + (b % 6));
            else if (kind === 'deliver' && flights.length > 0) {
              const [p, k] = flights[b % flights.length]!;
              sim.deliver(p, k, c % 3 === 0);
            } else if (kind === 'end' && flights.length > 0) {
              const [p, k] = flights[b % flights.length]!;
              sim.end(p, k);
            } else if (kind === 'unsolicited') {
              const blocks = blocksOf(g, b % g.pieceCount);
              sim.unsolicited(peer, blocks[c % blocks.length]!);
            } else if (kind === 'have') sim.announce(peer, b % g.pieceCount);
            else if (kind === 'leave') sim.leave(peer);
            else if (kind === 'join') sim.join(peer);
            else if (kind === 'disk' && c % 4 === 0) sim.foundOnDisk(b % g.pieceCount);
            else if (kind === 'priority') sim.prioritise(b, c);
            else if (kind === 'window')
              sim.picker.setStreamWindow(
                c % 3 === 0 ? undefined : { first: b % g.pieceCount, count: 1 + (c % 4) },
              );
            sim.check();
          }

          // Drain: everyone back, the first peer becomes a seed, keep picking and delivering: first
          // until the selected pieces are in (and none other is started), then the rest.
          for (const p of peers) sim.join(p);
          for (let i = 0; i < g.pieceCount; i++) sim.announce(peers[0]!, i);
          const totalBlocks = Math.ceil(g.totalLength / g.blockSize) + g.pieceCount;
          let coin = seed;
          const drain = () => {
            for (let round = 0; round < 4 * (totalBlocks + 3) && sim.wantedMissing() > 0; round++) {
              for (const p of peers) sim.pick(p, 4);
              for (const [p, k] of sim.flights()) {
                if (!sim.inflight.get(p)!.has(k)) continue; // cancelled by an earlier copy
                coin = (coin * 1103515245 + 12345) >>> 0;
                sim.deliver(p, k, (coin & 4) === 0);
                sim.check();
              }
            }
          };
          drain();
          assert.equal(sim.picker.wantedMissingCount(), 0, 'the selection never completed');
          assert.equal(sim.picker.inEndgame, false);
          for (const p of peers) assert.equal(sim.picker.pick(p, 4).length, 0, 'picked beyond the selection');
          sim.prioritise(0xff, 0);
          drain();
          assert.equal(sim.picker.missingCount(), 0, 'the swarm never completed');
          assert.equal(sim.picker.have.complete, true);
          assert.equal(sim.picker.inEndgame, false);
          assert.deepEqual(sim.picker.partialPieces(), []);
          for (const p of peers) assert.equal(sim.picker.inFlight(p), 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
