import { torrentStatus } from '../session/status.js';
import type { LessonPeer, LessonSwarm } from './swarm.js';

export interface LessonResult {
  /** Whether the numbers make the lesson's point. */
  readonly ok: boolean;
  /** The measured numbers, in one line (printed after `proof: `). */
  readonly proof: string;
}

export interface Lesson {
  readonly name: string;
  readonly title: string;
  /** What to watch for, in a few plain lines, printed before the swarm starts. */
  readonly explain: readonly string[];
  run(swarm: LessonSwarm): Promise<LessonResult>;
}

/** `A 12/64  B 30/64 ...`: how many chunks each peer holds. */
export function holdings(peers: readonly LessonPeer[]): string {
  return peers.map((p) => `${p.name} ${p.session.have.count}/${p.session.pieceCount}`).join('  ');
}

export function average(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Seconds, to one decimal, for proof lines. */
export function secs(n: number): string {
  return `${n.toFixed(1)} s`;
}

/**
 * Bytes each peer received from each other peer, read from its connections' counters every 250 ms (a
 * connection's counter goes when it closes, so the largest value seen is kept).
 */
export class Received {
  readonly #bytes = new Map<LessonPeer, Map<string, number>>();

  constructor(swarm: LessonSwarm, receivers: readonly LessonPeer[]) {
    for (const r of receivers) this.#bytes.set(r, new Map());
    swarm.every(250, () => this.sample());
  }

  sample(): void {
    for (const [r, from] of this.#bytes) {
      for (const p of torrentStatus(r.session).peers)
        from.set(p.address, Math.max(from.get(p.address) ?? 0, p.downloaded));
    }
  }

  /** Bytes `receiver` got from the peers `count` accepts. */
  from(receiver: LessonPeer, count: (address: string) => boolean = () => true): number {
    let sum = 0;
    for (const [address, bytes] of this.#bytes.get(receiver) ?? []) if (count(address)) sum += bytes;
    return sum;
  }
}
