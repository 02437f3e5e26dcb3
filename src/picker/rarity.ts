import type { Bitfield } from '../shared/bitfield.js';

/**
 * The pieces we still want, kept grouped by availability (how many connected peers have them), so
 * rarest-first can walk from the rarest group up without sorting or scanning the whole torrent.
 *
 * `order` is one permutation of all pieces, laid out as
 *   [availability 0 | availability 1 | ... | availability top | pieces we have]
 * with `start[a]` the first position of group `a` and `wantedEnd` the first position of the pieces
 * we have. A change of one piece's availability by one swaps it with the first or last member of its
 * group and moves that group's boundary: O(1). Retiring a piece we now have walks it up through the
 * groups above its own: O(distinct availability levels), at most the number of peers.
 *
 * The wanted region starts as a random permutation and is only ever rearranged by those swaps, so
 * within a group the order stays arbitrary; scans also start at a random place inside each group,
 * which is how ties between equally rare pieces are broken at random.
 */
export class RarityOrder {
  readonly #count: Uint32Array;
  readonly #order: Uint32Array;
  readonly #pos: Uint32Array;
  readonly #start: number[] = [0];
  #wantedEnd: number;

  /** `have` marks the pieces that start out retired; `random` shuffles the rest. */
  constructor(pieceCount: number, have: Bitfield, random: () => number) {
    this.#count = new Uint32Array(pieceCount);
    this.#order = new Uint32Array(pieceCount);
    this.#pos = new Uint32Array(pieceCount);
    let wanted = 0;
    let held = pieceCount;
    for (let i = 0; i < pieceCount; i++) {
      if (have.has(i)) this.#order[--held] = i;
      else this.#order[wanted++] = i;
    }
    this.#wantedEnd = wanted;
    for (let i = wanted - 1; i > 0; i--) {
      const j = randomBelow(random, i + 1);
      const t = this.#order[i]!;
      this.#order[i] = this.#order[j]!;
      this.#order[j] = t;
    }
    for (let i = 0; i < pieceCount; i++) this.#pos[this.#order[i]!] = i;
  }

  availability(piece: number): number {
    return this.#count[piece] ?? 0;
  }

  /** False once the piece has been retired (we have it). */
  isWanted(piece: number): boolean {
    return this.#pos[piece]! < this.#wantedEnd;
  }

  /** Number of pieces still wanted. */
  get wantedCount(): number {
    return this.#wantedEnd;
  }

  /** Wanted pieces that at most `availability` connected peers have: O(1). */
  countUpTo(availability: number): number {
    if (!(availability >= 0)) return 0;
    return this.#end(Math.min(Math.floor(availability), this.#start.length - 1));
  }

  increment(piece: number): void {
    const a = this.#count[piece]!;
    this.#count[piece] = a + 1;
    if (this.isWanted(piece)) this.#moveUp(piece, a);
  }

  decrement(piece: number): void {
    const a = this.#count[piece]!;
    // A count never goes below zero: the picker only takes back what it added for a peer.
    if (a === 0) return;
    this.#count[piece] = a - 1;
    if (!this.isWanted(piece)) return;
    const first = this.#start[a]!;
    this.#swap(this.#pos[piece]!, first);
    this.#start[a] = first + 1;
    this.#trim();
  }

  /** We have the piece now: it leaves the wanted region for good. */
  retire(piece: number): void {
    if (!this.isWanted(piece)) return;
    const top = this.#start.length - 1;
    for (let a = this.#count[piece]!; a < top; a++) this.#moveUp(piece, a);
    this.#swap(this.#pos[piece]!, this.#wantedEnd - 1);
    this.#wantedEnd--;
    this.#trim();
  }

  /**
   * The piece is wanted again (a file selected again after it was skipped): it rejoins the group of
   * its availability, which was kept current while it was retired. O(distinct availability levels).
   */
  restore(piece: number): void {
    if (this.isWanted(piece)) return;
    const a = this.#count[piece]!;
    // Groups up to `a` must exist; new ones are empty and start where the wanted region ends.
    while (this.#start.length - 1 < a) this.#start.push(this.#wantedEnd);
    this.#swap(this.#pos[piece]!, this.#wantedEnd);
    this.#wantedEnd++;
    // It now sits last in the top group; walk it down to its own group.
    for (let g = this.#start.length - 1; g > a; g--) {
      const first = this.#start[g]!;
      this.#swap(this.#pos[piece]!, first);
      this.#start[g] = first + 1;
    }
    this.#trim();
  }

  /**
   * Visits wanted pieces with availability >= `minAvailability`, rarest group first; inside a group
   * it starts at a random member and wraps around. Stops as soon as `visit` returns true. `visit`
   * must not change availability or retire pieces. Cost: the number of positions visited, at most
   * the number of wanted pieces.
   */
  scanRarest(minAvailability: number, random: () => number, visit: (piece: number) => boolean): void {
    for (let a = minAvailability; a < this.#start.length; a++) {
      if (this.#scanRange(this.#start[a]!, this.#end(a), random, visit)) return;
    }
  }

  /** Visits wanted pieces with availability >= `minAvailability` in random order (same contract as scanRarest). */
  scanRandom(minAvailability: number, random: () => number, visit: (piece: number) => boolean): void {
    const from = minAvailability < this.#start.length ? this.#start[minAvailability]! : this.#wantedEnd;
    this.#scanRange(from, this.#wantedEnd, random, visit);
  }

  #scanRange(from: number, to: number, random: () => number, visit: (piece: number) => boolean): boolean {
    const n = to - from;
    if (n <= 0) return false;
    // One loop that wraps, not two: the optimising compiler copies `visit` into every call site, and
    // the picker's visit is large enough that a second copy doubled this function's compile time.
    let i = from + randomBelow(random, n);
    for (let k = 0; k < n; k++) {
      if (visit(this.#order[i]!)) return true;
      if (++i === to) i = from;
    }
    return false;
  }

  #end(a: number): number {
    return a + 1 < this.#start.length ? this.#start[a + 1]! : this.#wantedEnd;
  }

  /** Moves a wanted piece (by position only) from group `a` to group `a + 1`. */
  #moveUp(piece: number, a: number): void {
    if (a + 1 === this.#start.length) this.#start.push(this.#wantedEnd);
    const last = this.#start[a + 1]! - 1;
    this.#swap(this.#pos[piece]!, last);
    this.#start[a + 1] = last;
  }

  /** Empty groups at the top would only lengthen scans and retire walks. */
  #trim(): void {
    while (this.#start.length > 1 && this.#start[this.#start.length - 1] === this.#wantedEnd)
      this.#start.pop();
  }

  #swap(i: number, j: number): void {
    if (i === j) return;
    const pi = this.#order[i]!;
    const pj = this.#order[j]!;
    this.#order[i] = pj;
    this.#order[j] = pi;
    this.#pos[pj] = i;
    this.#pos[pi] = j;
  }
}

/** An integer in [0, n), robust to a `random` that returns 1 or garbage. */
export function randomBelow(random: () => number, n: number): number {
  const r = random();
  if (!(r > 0)) return 0;
  return Math.min(n - 1, Math.floor(r * n));
}
