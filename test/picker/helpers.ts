import type { BlockRef } from '../../src/picker/index.js';
import { PiecePicker } from '../../src/picker/index.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { seededGenerator as seededRandom } from '../../src/shared/random.js';

/** A small deterministic generator (mulberry32), so tie breaks and random-first are repeatable. */
export const seeded = seededRandom;

export const KiB16 = 16 * 1024;

export interface SwarmOptions {
  /** Our verified pieces as a picture, e.g. "1000". */
  have?: string;
  /** Blocks per piece (each 16 KiB); 1 by default. */
  blocks?: number;
  randomFirst?: number;
  seed?: number;
  /** See PickerOptions.endgameQueue. */
  endgameQueue?: number;
}

/**
 * A picker over a torrent of `pictures[*].length` pieces, with one peer per picture:
 * `swarm({ a: '1101', b: '0111' })`. Rarest-first is on (randomFirst 0) unless asked otherwise.
 */
export function swarm(pictures: Record<string, string>, opts: SwarmOptions = {}): PiecePicker {
  const first = Object.values(pictures)[0] ?? opts.have;
  if (first === undefined) throw new Error('swarm needs a peer or a have picture');
  const pieceCount = first.length;
  const pieceLength = (opts.blocks ?? 1) * KiB16;
  const picker = new PiecePicker(
    { pieceCount, pieceLength, totalLength: pieceCount * pieceLength },
    {
      random: seeded(opts.seed ?? 1),
      randomFirst: opts.randomFirst ?? 0,
      ...(opts.endgameQueue !== undefined ? { endgameQueue: opts.endgameQueue } : {}),
      ...(opts.have ? { have: Bitfield.fromString(opts.have) } : {}),
    },
  );
  for (const [peer, picture] of Object.entries(pictures)) picker.addPeer(peer, Bitfield.fromString(picture));
  return picker;
}

/** Blocks as "index:blockNumber" strings, for compact assertions. */
export function names(blocks: readonly BlockRef[]): string[] {
  return blocks.map((b) => `${b.index}:${b.begin / KiB16}`);
}

export function block(index: number, n: number, length = KiB16): BlockRef {
  return { index, begin: n * KiB16, length };
}
