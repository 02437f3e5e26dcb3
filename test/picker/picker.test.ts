import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PiecePicker } from '../../src/picker/index.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { block, KiB16, names, seeded, swarm } from './helpers.js';

describe('block geometry', () => {
  it('cuts pieces into 16 KiB blocks, only the last block of the last piece shorter', () => {
    const picker = new PiecePicker({
      pieceCount: 3,
      pieceLength: 2 * KiB16,
      totalLength: 4 * KiB16 + 20_000,
    });
    picker.addPeer('s', Bitfield.fromString('111'));
    const all = [0, 1, 2].flatMap((i) => picker.pickPiece('s', i, 100));
    assert.deepEqual(
      all.map((b) => [b.index, b.begin, b.length]),
      [
        [0, 0, KiB16],
        [0, KiB16, KiB16],
        [1, 0, KiB16],
        [1, KiB16, KiB16],
        [2, 0, KiB16],
        [2, KiB16, 20_000 - KiB16],
      ],
    );
  });

  it('honours a smaller block size and a piece length that is not a multiple of it', () => {
    const picker = new PiecePicker({ pieceCount: 2, pieceLength: 10, totalLength: 13 }, { blockSize: 4 });
    picker.addPeer('s', Bitfield.fromString('11'));
    assert.deepEqual(
      [...picker.pickPiece('s', 0, 9), ...picker.pickPiece('s', 1, 9)].map((b) => [
        b.index,
        b.begin,
        b.length,
      ]),
      [
        [0, 0, 4],
        [0, 4, 4],
        [0, 8, 2],
        [1, 0, 3],
      ],
    );
  });

  it('refuses a layout that does not add up, a bad block size and mismatched bitfields', () => {
    const bad = (fn: () => unknown, code: string) =>
      assert.throws(fn, (e: unknown) => isChunkswarmError(e) && e.code === code);
    bad(() => new PiecePicker({ pieceCount: 3, pieceLength: 10, totalLength: 31 }), 'EMETAINFO');
    bad(() => new PiecePicker({ pieceCount: 1, pieceLength: 0, totalLength: 0 }), 'EMETAINFO');
    bad(
      () => new PiecePicker({ pieceCount: 1, pieceLength: 10, totalLength: 10 }, { blockSize: 0 }),
      'EUSAGE',
    );
    bad(
      () => new PiecePicker({ pieceCount: 1, pieceLength: 10, totalLength: 10 }, { blockSize: 32768 }),
      'EUSAGE',
    );
    bad(
      () =>
        new PiecePicker(
          { pieceCount: 2, pieceLength: 10, totalLength: 20 },
          { have: Bitfield.fromString('1') },
        ),
      'EUSAGE',
    );
    const picker = new PiecePicker({ pieceCount: 2, pieceLength: 10, totalLength: 20 });
    bad(() => picker.addPeer('x', Bitfield.fromString('111')), 'EPEER');
    bad(() => picker.pickPiece('x', 2, 1), 'EUSAGE');
    bad(() => picker.pieceVerified(-1), 'EUSAGE');
  });

  it('handles an empty torrent', () => {
    const picker = new PiecePicker({ pieceCount: 0, pieceLength: KiB16, totalLength: 0 });
    picker.addPeer('s', new Bitfield(0));
    assert.deepEqual(picker.pick('s', 10), []);
    assert.equal(picker.missingCount(), 0);
    assert.equal(picker.inEndgame, false);
  });
});

describe('BEP 47 padding', () => {
  // Pieces of four blocks. Piece 0: a file's 1.5 blocks, then padding to the piece's end (blocks 2 and 3
  // wholly padding, block 1 half). Piece 1: a file. Piece 2: nothing but padding.
  const padded = () =>
    new PiecePicker({
      pieceCount: 3,
      pieceLength: 4 * KiB16,
      totalLength: 12 * KiB16,
      padding: [
        { offset: 1.5 * KiB16, length: 2.5 * KiB16 },
        { offset: 8 * KiB16, length: 4 * KiB16 },
      ],
    });

  it('never asks for a block wholly inside padding; a block partly in it is asked for', () => {
    const picker = padded();
    picker.addPeer('s', Bitfield.fromString('111'));
    const asked = [0, 1].flatMap((i) => picker.pickPiece('s', i, 100));
    assert.deepEqual(
      asked.map((b) => [b.index, b.begin / KiB16]),
      [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
        [1, 2],
        [1, 3],
      ],
    );
    // The piece is whole once the two blocks that hold data are in.
    assert.equal(picker.blockReceived('s', block(0, 0)).pieceDone, false);
    assert.equal(picker.blockReceived('s', block(0, 1)).pieceDone, true);
  });

  it('asks for a piece of nothing but padding as usual: something must bring it to its hash check', () => {
    const picker = padded();
    picker.addPeer('s', Bitfield.fromString('001'));
    assert.equal(picker.pickPiece('s', 2, 100).length, 4);
  });

  it('rarest-first and endgame count only the blocks to fetch; a failed piece keeps its padding', () => {
    const picker = padded();
    picker.addPeer('s', Bitfield.fromString('100'));
    const asked = picker.pick('s', 100);
    assert.deepEqual(
      asked.map((b) => [b.index, b.begin / KiB16]),
      [
        [0, 0],
        [0, 1],
      ],
    );
    // Pieces 1 and 2 are free elsewhere, so no endgame yet; once the only peer has them too, the rest goes.
    assert.equal(picker.inEndgame, false);
    picker.blockReceived('s', block(0, 0));
    assert.equal(picker.blockReceived('s', block(0, 1)).pieceDone, true);
    picker.pieceFailed(0);
    assert.deepEqual(
      picker.pick('s', 100).map((b) => [b.index, b.begin / KiB16]),
      [
        [0, 0],
        [0, 1],
      ],
    );
    picker.blockReceived('s', block(0, 0));
    assert.equal(picker.blockReceived('s', block(0, 1)).pieceDone, true);
    picker.pieceVerified(0);
    picker.peerHave('s', 1);
    picker.peerHave('s', 2);
    assert.equal(picker.pick('s', 100).length, 8);
    assert.equal(picker.inEndgame, true, 'every block to fetch is in flight');
  });
});

describe('availability', () => {
  it('counts each peer once per piece, follows HAVE and forgets a peer that leaves', () => {
    const picker = swarm({ a: '1101', b: '0111', c: '0101', d: '0100' });
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => picker.availability(i)),
      [1, 4, 1, 3],
    );
    picker.peerHave('d', 0);
    picker.peerHave('d', 0); // a repeated HAVE is not counted twice
    picker.peerHave('nobody', 2);
    picker.peerHave('a', 99);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => picker.availability(i)),
      [2, 4, 1, 3],
    );
    picker.removePeer('b');
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => picker.availability(i)),
      [2, 3, 0, 2],
    );
    picker.removePeer('b');
    assert.equal(picker.availability(1), 3);
  });

  it('counts the wanted pieces we lack that few peers have', () => {
    // Availability 1, 4, 1, 3, 0; we have piece 2.
    const picker = swarm({ a: '11010', b: '01110', c: '01010', d: '01000' }, { have: '00100' });
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((n) => picker.rareCount(n)),
      [1, 2, 2, 3, 4],
    );
    assert.equal(picker.rareCount(99), 4);
    assert.equal(picker.rareCount(-1), 0);
    picker.peerHave('d', 0);
    picker.pieceVerified(4);
    assert.deepEqual(
      [0, 1, 2].map((n) => picker.rareCount(n)),
      [0, 0, 1],
      'piece 0 now has two holders, and piece 4 is ours',
    );
    picker.setPriorities([0, 1, 1, 1, 1]);
    assert.equal(picker.rareCount(2), 0, 'a skipped piece is not wanted');
  });

  it('keeps counting pieces we already have', () => {
    const picker = swarm({ a: '11' }, { have: '10' });
    assert.equal(picker.availability(0), 1);
    picker.addPeer('b', Bitfield.fromString('11'));
    assert.equal(picker.availability(0), 2);
  });

  it('re-adding a peer replaces its old view', () => {
    const picker = swarm({ a: '1100' });
    picker.addPeer('a', Bitfield.fromString('0011'));
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => picker.availability(i)),
      [0, 0, 1, 1],
    );
  });

  it('is interested exactly in peers that have a piece we lack', () => {
    const picker = swarm({ a: '1100' }, { have: '1100' });
    assert.equal(picker.interesting(Bitfield.fromString('1100')), false);
    assert.equal(picker.interesting(Bitfield.fromString('0000')), false);
    assert.equal(picker.interesting(Bitfield.fromString('0001')), true);
    const big = new PiecePicker({ pieceCount: 20, pieceLength: 1, totalLength: 20 });
    assert.equal(big.interesting(Bitfield.fromString('00000000000000000001')), true);
  });
});

describe('rarest first', () => {
  it('picks the rarest piece the peer has', () => {
    //            piece:  0123     availability 1 4 1 3
    const picker = swarm({ a: '1101', b: '0111', c: '0101', d: '0100' });
    assert.deepEqual(names(picker.pick('a', 1)), ['0:0']);
    assert.deepEqual(names(picker.pick('c', 1)), ['3:0']);
    assert.deepEqual(names(picker.pick('b', 1)), ['2:0']);
  });

  it('skips pieces we have', () => {
    const picker = swarm({ a: '1101', b: '0111', c: '0101', d: '0100' }, { have: '1000' });
    assert.deepEqual(names(picker.pick('a', 1)), ['3:0']);
  });

  it('orders several new pieces in one call by availability', () => {
    const picker = swarm({
      s: '11111111',
      a: '11111011',
      b: '11011011',
      c: '11011001',
    });
    // availability: 4 4 2 4 4 1 3 4 → 5, then 2, then 6
    assert.deepEqual(names(picker.pick('s', 3)), ['5:0', '2:0', '6:0']);
  });

  it('follows availability as it changes', () => {
    const picker = swarm({ s: '111', a: '011', b: '001' });
    picker.peerHave('a', 0);
    picker.peerHave('b', 0);
    // availability now 3 2 3
    assert.deepEqual(names(picker.pick('s', 1)), ['1:0']);
    picker.removePeer('b');
    picker.removePeer('a');
    picker.addPeer('c', Bitfield.fromString('001'));
    // availability 1 1(started) 2
    assert.deepEqual(names(picker.pick('s', 1)), ['0:0']);
  });

  it('breaks ties at random and repeats itself for the same seed', () => {
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const picker = swarm({ a: '11111' }, { seed });
      const [b] = picker.pick('a', 1);
      assert.ok(b);
      firsts.add(b.index);
      assert.deepEqual(picker.pick('a', 4).length, 4);
      assert.deepEqual(names(swarm({ a: '11111' }, { seed }).pick('a', 5)).sort(), [
        '0:0',
        '1:0',
        '2:0',
        '3:0',
        '4:0',
      ]);
    }
    assert.deepEqual([...firsts].sort(), [0, 1, 2, 3, 4]);
  });

  it('never picks among the common pieces while a rarer one is free, whatever the seed', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const picker = swarm({ s: '1111', a: '1011', b: '1011' }, { seed });
      assert.deepEqual(names(picker.pick('s', 1)), ['1:0']);
    }
  });

  it('finds the single rare piece among 100 000 and keeps up with many calls', () => {
    const pieceCount = 100_000;
    const rare = 73_421;
    const picker = new PiecePicker(
      { pieceCount, pieceLength: KiB16, totalLength: pieceCount * KiB16 },
      { random: seeded(7), randomFirst: 0 },
    );
    for (let p = 0; p < 20; p++) {
      const bits = Bitfield.full(pieceCount);
      if (p > 0) bits.clear(rare);
      picker.addPeer(`p${p}`, bits);
    }
    const first = picker.pick('p0', 256);
    assert.equal(first[0]?.index, rare);
    assert.equal(new Set(first.map((b) => b.index)).size, 256);
    // Download a good share through the same path the engine uses, one block per call.
    let done = 0;
    for (const b of first) {
      assert.equal(picker.blockReceived('p0', b).pieceDone, true);
      picker.pieceVerified(b.index);
      done++;
    }
    for (let i = 0; i < 20_000; i++) {
      const peer = `p${i % 20}`;
      const [b] = picker.pick(peer, 1);
      assert.ok(b);
      assert.equal(picker.blockReceived(peer, b).wanted, true);
      picker.pieceVerified(b.index);
      done++;
    }
    assert.equal(picker.missingCount(), pieceCount - done);
    assert.deepEqual(picker.partialPieces(), []);
  });
});

describe('random first', () => {
  it('picks random pieces, not the rarest, while we hold fewer than randomFirst pieces', () => {
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const picker = swarm({ s: '11111111', a: '11111110' }, { randomFirst: 2, seed });
      const [b] = picker.pick('s', 1);
      assert.ok(b);
      firsts.add(b.index);
    }
    assert.ok(firsts.size >= 4, `random-first should spread, got ${[...firsts]}`);
  });

  it('switches to rarest first once we hold randomFirst pieces', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const picker = swarm({ s: '11111111', a: '11111110' }, { randomFirst: 2, seed, have: '11000000' });
      assert.deepEqual(names(picker.pick('s', 1)), ['7:0']);
    }
  });

  it('counts only verified pieces toward randomFirst', () => {
    const seconds = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      // availability: 3 3 3 3 3 3 2 1
      const picker = swarm({ s: '11111111', a: '11111110', b: '11111100' }, { randomFirst: 1, seed });
      const [first] = picker.pick('s', 1);
      assert.ok(first);
      assert.equal(picker.blockReceived('s', first).pieceDone, true);
      // Received but not verified: still choosing at random.
      const [second] = picker.pick('s', 1);
      assert.ok(second);
      seconds.add(second.index);
      picker.requestEnded('s', second);
      picker.pieceVerified(first.index);
      assert.deepEqual(names(picker.pick('s', 1)), [first.index === 7 ? '6:0' : '7:0']);
    }
    assert.ok(seconds.size >= 4, `still random before verification, got ${[...seconds]}`);
  });
});

describe('partial pieces first', () => {
  it('continues a started piece before starting a rarer one', () => {
    //            availability: 1 2
    const picker = swarm({ a: '11', b: '01' }, { blocks: 4 });
    assert.deepEqual(names(picker.pickPiece('b', 1, 1)), ['1:0']);
    assert.deepEqual(names(picker.pick('a', 4)), ['1:1', '1:2', '1:3', '0:0']);
  });

  it('prefers the started piece closest to done', () => {
    const picker = swarm({ s: '111', a: '111' }, { blocks: 4 });
    picker.pickPiece('a', 0, 1); // piece 0: 3 blocks unrequested
    picker.pickPiece('a', 1, 3); // piece 1: 1 block unrequested
    assert.deepEqual(names(picker.pick('s', 3)), ['1:3', '0:1', '0:2']);
  });

  it('among equally open pieces, prefers the one with more blocks received', () => {
    const picker = swarm({ s: '111', a: '111' }, { blocks: 4 });
    for (const b of picker.pickPiece('a', 2, 2)) picker.blockReceived('a', b); // 2 received
    picker.pickPiece('a', 0, 2); // 2 in flight
    assert.deepEqual(names(picker.pick('s', 1)), ['2:2']);
  });

  it('only continues pieces the peer has', () => {
    const picker = swarm({ a: '10', b: '11' }, { blocks: 2 });
    picker.pickPiece('b', 1, 1);
    assert.deepEqual(names(picker.pick('a', 4)), ['0:0', '0:1']);
  });

  it('starts as many pieces as the request budget needs', () => {
    const picker = swarm({ s: '1111' }, { blocks: 2, seed: 5 });
    const got = picker.pick('s', 5);
    assert.equal(got.length, 5);
    const perPiece = new Map<number, number>();
    for (const b of got) perPiece.set(b.index, (perPiece.get(b.index) ?? 0) + 1);
    assert.deepEqual([...perPiece.values()].sort(), [1, 2, 2]);
    assert.equal(picker.partialPieces().length, 3);
  });
});

describe('requests in flight', () => {
  it('never hands a block in flight to a second peer outside endgame', () => {
    const picker = swarm({ a: '11', b: '11' }, { blocks: 4 });
    const a = picker.pick('a', 5);
    const b = picker.pick('b', 5);
    assert.equal(a.length, 5);
    assert.equal(b.length, 3);
    const seen = new Set(names(a));
    for (const n of names(b)) assert.ok(!seen.has(n), `${n} given twice`);
    assert.equal(picker.inFlight('a'), 5);
    assert.equal(picker.inFlight('b'), 3);
  });

  it('an idle peer shares the last blocks of a piece held up at a stalled peer, and only then', () => {
    // Pieces of 4 blocks; piece 1, which nobody has, keeps the picker out of endgame.
    const picker = swarm({ a: '10', b: '10', c: '10' }, { blocks: 4 });
    assert.deepEqual(names(picker.pick('a', 4)), ['0:0', '0:1', '0:2', '0:3']);
    assert.deepEqual(picker.pick('b', 4), [], 'everything b has is in flight elsewhere');
    assert.deepEqual(picker.pick('b', 4, undefined, { stalled: () => false }), [], 'a is not stalled');
    const asked: string[] = [];
    const stalled = (peer: string): boolean => {
      asked.push(peer);
      return peer === 'a';
    };
    // The tail first: `a` would send those last.
    assert.deepEqual(names(picker.pick('b', 2, undefined, { stalled })), ['0:3', '0:2']);
    assert.deepEqual(asked, ['a'], 'each owner is judged once per pick');
    // `b` has blocks in flight now: it is not idle, and `c` may not make a third copy of 0:3 or 0:2.
    assert.deepEqual(picker.pick('b', 2, undefined, { stalled }), []);
    assert.deepEqual(names(picker.pick('c', 4, undefined, { stalled })), ['0:1', '0:0']);
    // The first copy to arrive cancels the other.
    assert.deepEqual(picker.blockReceived('b', block(0, 3)).cancel, ['a']);
    assert.deepEqual(picker.blockReceived('a', block(0, 2)).cancel, ['b']);
  });

  it('shares nothing while the idle peer has a free block of its own to fetch', () => {
    const picker = swarm({ a: '100', b: '110' }, { blocks: 2 });
    assert.deepEqual(names(picker.pick('a', 2)), ['0:0', '0:1']);
    assert.deepEqual(names(picker.pick('b', 4, undefined, { stalled: () => true })), ['1:0', '1:1']);
  });

  it('gives nothing to an unknown peer, for a non-positive budget, or when the peer has nothing we lack', () => {
    const picker = swarm({ a: '10' }, { have: '10' });
    assert.deepEqual(picker.pick('ghost', 5), []);
    assert.deepEqual(picker.pickPiece('ghost', 1, 5), []);
    assert.deepEqual(picker.pick('a', 0), []);
    assert.deepEqual(picker.pick('a', 5), []);
    assert.equal(picker.inFlight('ghost'), 0);
  });

  it('frees a request that ended without data for another peer', () => {
    const picker = swarm({ a: '1', b: '1' }, { blocks: 2 });
    assert.deepEqual(names(picker.pick('a', 2)), ['0:0', '0:1']);
    picker.requestEnded('a', block(0, 1));
    picker.requestEnded('b', block(0, 0)); // not b's: no effect
    assert.equal(picker.inFlight('a'), 1);
    assert.deepEqual(names(picker.pick('b', 2)), ['0:1']);
  });

  it('forgets a piece nobody works on any more', () => {
    const picker = swarm({ a: '11' }, { blocks: 2 });
    const got = picker.pick('a', 1);
    assert.equal(picker.partialPieces().length, 1);
    picker.requestEnded('a', got[0]!);
    assert.deepEqual(picker.partialPieces(), []);
  });

  it('removePeer frees every block it had in flight', () => {
    const picker = swarm({ a: '11', b: '11' }, { blocks: 2 });
    const a = picker.pick('a', 3);
    assert.equal(a.length, 3);
    picker.removePeer('a');
    assert.equal(picker.inFlight('a'), 0);
    assert.deepEqual(names(picker.pick('b', 4)).sort(), ['0:0', '0:1', '1:0', '1:1']);
    // A late block from the departed peer is not wanted.
    assert.equal(picker.blockReceived('a', a[0]!).wanted, false);
  });
});

describe('receiving blocks', () => {
  it('reports the piece done when its last block arrives', () => {
    const picker = swarm({ a: '1' }, { blocks: 3 });
    const got = picker.pick('a', 3);
    assert.deepEqual(
      got.map((b) => picker.blockReceived('a', b)),
      [
        { wanted: true, pieceDone: false, cancel: [] },
        { wanted: true, pieceDone: false, cancel: [] },
        { wanted: true, pieceDone: true, cancel: [] },
      ],
    );
    assert.equal(picker.inFlight('a'), 0);
    assert.deepEqual(picker.partialPieces(), [0]);
    picker.pieceVerified(0);
    assert.equal(picker.have.toString(), '1');
    assert.equal(picker.missingCount(), 0);
    assert.deepEqual(picker.partialPieces(), []);
    assert.deepEqual(picker.pick('a', 3), []);
  });

  it('does not want blocks it never asked for, already has, or that are malformed, and records none of them', () => {
    const picker = swarm({ a: '11', b: '11' }, { blocks: 2 });
    assert.equal(picker.blockReceived('a', block(0, 0)).wanted, false); // never requested
    const [first] = picker.pickPiece('a', 1, 1);
    assert.ok(first);
    assert.equal(picker.blockReceived('b', first).wanted, false); // requested from a, not b
    assert.equal(picker.blockReceived('a', { ...first, length: 100 }).wanted, false);
    assert.equal(picker.blockReceived('a', { ...first, begin: first.begin + 1 }).wanted, false);
    assert.equal(picker.blockReceived('a', { index: 5, begin: 0, length: KiB16 }).wanted, false);
    assert.equal(picker.blockReceived('a', { index: 0, begin: 2 * KiB16, length: KiB16 }).wanted, false);
    assert.equal(picker.inFlight('a'), 1);
    assert.equal(picker.blockReceived('a', first).wanted, true);
    assert.equal(picker.blockReceived('a', first).wanted, false); // already have it
    // The never-requested block was not recorded: it is still there to pick.
    assert.deepEqual(names(picker.pick('b', 4)), ['1:1', '0:0', '0:1']);
  });

  it('refetches every block of a piece that failed its hash check', () => {
    const picker = swarm({ a: '11', b: '11' }, { blocks: 2 });
    const got = picker.pickPiece('a', 1, 2);
    assert.equal(picker.blockReceived('a', got[0]!).pieceDone, false);
    assert.equal(picker.blockReceived('a', got[1]!).pieceDone, true);
    picker.pieceFailed(1);
    assert.equal(picker.have.has(1), false);
    assert.deepEqual(picker.partialPieces(), []);
    assert.deepEqual(names(picker.pickPiece('b', 1, 5)), ['1:0', '1:1']);
    picker.pieceFailed(0); // nothing started: no effect
    assert.equal(picker.missingCount(), 2);
  });

  it('keeps in-flight blocks of a failed piece in flight', () => {
    const picker = swarm({ a: '1', b: '1' }, { blocks: 3 });
    const got = picker.pick('a', 3);
    picker.blockReceived('a', got[0]!);
    picker.pieceFailed(0);
    assert.equal(picker.inFlight('a'), 2);
    assert.deepEqual(names(picker.pick('b', 3)), ['0:0']);
  });

  it('pieceVerified of a piece still being fetched releases its requests', () => {
    const picker = swarm({ a: '11' }, { blocks: 2 });
    const got = picker.pickPiece('a', 0, 2);
    picker.blockReceived('a', got[0]!);
    picker.pieceVerified(0);
    picker.pieceVerified(0);
    assert.equal(picker.inFlight('a'), 0);
    assert.equal(picker.blockReceived('a', got[1]!).wanted, false);
    assert.deepEqual(picker.partialPieces(), []);
    assert.equal(picker.missingCount(), 1);
    assert.deepEqual(names(picker.pick('a', 5)), ['1:0', '1:1']);
  });
});

describe('endgame', () => {
  it('counts a piece verified while half requested as no longer missing', () => {
    const picker = swarm({ a: '11' }, { blocks: 2 });
    picker.pickPiece('a', 0, 1);
    picker.pieceVerified(0);
    assert.equal(picker.inEndgame, false);
    picker.pick('a', 2);
    assert.equal(picker.inEndgame, true);
  });

  it('starts once every missing block is received or in flight', () => {
    const picker = swarm({ a: '11', b: '11' }, { blocks: 2 });
    assert.equal(picker.inEndgame, false);
    picker.pick('a', 3);
    assert.equal(picker.inEndgame, false);
    picker.pick('b', 1);
    assert.equal(picker.inEndgame, true);
  });

  it('duplicates blocks to other peers, never twice to the same one, and cancels the losers', () => {
    const picker = swarm({ a: '1', b: '1', c: '1' }, { blocks: 2, endgameQueue: 2 });
    assert.deepEqual(names(picker.pick('a', 2)), ['0:0', '0:1']);
    assert.equal(picker.inEndgame, true);
    assert.deepEqual(picker.pick('a', 2), []);
    assert.deepEqual(names(picker.pick('b', 1)), ['0:0']);
    // 0:0 has two copies in flight now, 0:1 one: c gets the least duplicated first.
    assert.deepEqual(names(picker.pick('c', 1)), ['0:1']);
    assert.deepEqual(names(picker.pick('c', 5)), ['0:0']);
    assert.deepEqual(picker.pick('c', 5), []);

    assert.deepEqual(picker.blockReceived('b', block(0, 0)), {
      wanted: true,
      pieceDone: false,
      cancel: ['a', 'c'],
    });
    assert.equal(picker.inFlight('a'), 1);
    assert.equal(picker.inFlight('b'), 0);
    assert.equal(picker.inFlight('c'), 1);
    // The cancelled copies may still arrive: they are not wanted.
    assert.equal(picker.blockReceived('a', block(0, 0)).wanted, false);
    assert.deepEqual(picker.blockReceived('a', block(0, 1)), {
      wanted: true,
      pieceDone: true,
      cancel: ['c'],
    });
    assert.equal(picker.inFlight('c'), 0);
    picker.pieceVerified(0);
    assert.equal(picker.inEndgame, false);
    assert.equal(picker.missingCount(), 0);
  });

  it('asks a peer for a block in flight elsewhere only while it has nothing else in flight', () => {
    const picker = swarm({ a: '1', b: '1' }, { blocks: 3 });
    assert.deepEqual(names(picker.pick('a', 2)), ['0:0', '0:1']);
    assert.deepEqual(names(picker.pick('b', 5)), ['0:2']);
    assert.equal(picker.inEndgame, true);
    // b has 0:2 in flight: no copy for it yet.
    assert.deepEqual(picker.pick('b', 5), []);
    picker.blockReceived('b', block(0, 2));
    // Now one copy, however much room it has.
    assert.deepEqual(names(picker.pick('b', 5)), ['0:0']);
    assert.deepEqual(picker.pick('b', 5), []);
  });

  it('only duplicates blocks of pieces the peer has', () => {
    const picker = swarm({ a: '11', b: '01' });
    picker.pick('a', 2);
    assert.equal(picker.inEndgame, true);
    assert.deepEqual(names(picker.pick('b', 5)), ['1:0']);
  });

  it('ends when a block becomes free again', () => {
    const picker = swarm({ a: '1', b: '1' }, { blocks: 2 });
    const got = picker.pick('a', 2);
    picker.pick('b', 1);
    picker.requestEnded('a', got[1]!);
    assert.equal(picker.inEndgame, false);
    assert.deepEqual(names(picker.pick('b', 5)), ['0:1']);
  });
});

describe('pickPiece (explicit chunk request)', () => {
  it('returns the blocks not received and not in flight to this peer, unrequested ones first', () => {
    const picker = swarm({ a: '1', b: '1' }, { blocks: 4 });
    const a = picker.pickPiece('a', 0, 2); // 0:0 0:1 to a
    picker.blockReceived('a', a[0]!);
    assert.deepEqual(names(picker.pickPiece('b', 0, 10)), ['0:2', '0:3', '0:1']);
    assert.deepEqual(picker.pickPiece('b', 0, 10), []);
    assert.deepEqual(names(picker.pickPiece('a', 0, 10)), ['0:2', '0:3']);
    assert.equal(picker.inFlight('b'), 3);
  });

  it('respects max and ignores whether the peer advertised the piece', () => {
    const picker = swarm({ a: '01' }, { blocks: 4 });
    assert.deepEqual(names(picker.pickPiece('a', 0, 2)), ['0:0', '0:1']);
    assert.deepEqual(picker.pickPiece('a', 0, 0), []);
    assert.deepEqual(picker.partialPieces(), [0]);
  });

  it('returns nothing for a piece we have', () => {
    const picker = swarm({ a: '11' }, { have: '10' });
    assert.deepEqual(picker.pickPiece('a', 0, 5), []);
    assert.deepEqual(picker.partialPieces(), []);
  });
});

describe('suggested pieces', () => {
  it('starts pieces the peer suggested before rarest-first', () => {
    const picker = new PiecePicker(
      { pieceCount: 4, pieceLength: 16384, totalLength: 4 * 16384 },
      { random: () => 0, randomFirst: 0 },
    );
    picker.addPeer('seed', Bitfield.fromString('1111'));
    picker.addPeer('other', Bitfield.fromString('1110'));
    // Piece 3 is the rarest, but the seeder suggested piece 1.
    assert.deepEqual(
      picker.pick('seed', 1, new Set([1])).map((b) => b.index),
      [1],
    );
    assert.deepEqual(
      picker.pick('seed', 1).map((b) => b.index),
      [3],
    );
  });

  it('with only, asks the suggesting peer for nothing else, not even started pieces', () => {
    const picker = new PiecePicker(
      { pieceCount: 4, pieceLength: 32768, totalLength: 4 * 32768 },
      { random: () => 0, randomFirst: 0 },
    );
    picker.addPeer('seed', Bitfield.fromString('1111'));
    picker.addPeer('other', Bitfield.fromString('1110'));
    // Piece 0 is started from the other peer; the seeder suggested piece 2 only.
    assert.deepEqual(
      picker.pick('other', 1, new Set([0])).map((b) => b.index),
      [0],
    );
    const fromSeed = picker.pick('seed', 10, new Set([2]), { only: true });
    assert.deepEqual([...new Set(fromSeed.map((b) => b.index))], [2]);
    assert.deepEqual(picker.pick('seed', 10, new Set([2]), { only: true }), []);
  });
});
