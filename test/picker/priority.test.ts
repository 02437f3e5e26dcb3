import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRIORITY_HIGH as H, PRIORITY_NORMAL as N, PRIORITY_SKIP as S } from '../../src/picker/index.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { block, names, swarm } from './helpers.js';

describe('priorities (file selection)', () => {
  it('never starts a skipped piece, however rare', () => {
    //            piece: 01234   availability 3 3 1 3 3
    const picker = swarm({ a: '11111', b: '11011', c: '11011' });
    picker.setPriorities([N, N, S, N, N]);
    const got = names(picker.pick('a', 10)).sort();
    assert.deepEqual(got, ['0:0', '1:0', '3:0', '4:0']);
  });

  it('is not interested in a peer that has only skipped pieces', () => {
    const picker = swarm({ a: '0010' }, { have: '1000' });
    assert.equal(picker.interesting(Bitfield.fromString('0010')), true);
    picker.setPriorities([N, N, S, N]);
    assert.equal(picker.interesting(Bitfield.fromString('0010')), false);
    assert.equal(picker.interesting(Bitfield.fromString('0001')), true);
    // a piece we have stays uninteresting whatever its priority
    assert.equal(picker.interesting(Bitfield.fromString('1000')), false);
  });

  it('counts the selection as complete when every wanted piece is in, and endgame only over wanted pieces', () => {
    const picker = swarm({ a: '1111' });
    picker.setPriorities([N, S, S, N]);
    assert.equal(picker.wantedMissingCount(), 2);
    assert.deepEqual(names(picker.pick('a', 1)).length, 1);
    assert.equal(picker.inEndgame, false);
    const [second] = picker.pick('a', 1);
    assert.ok(second);
    // both wanted pieces are in flight: endgame, though pieces 1 and 2 were never asked for
    assert.equal(picker.inEndgame, true);
    picker.blockReceived('a', block(0, 0));
    picker.pieceVerified(0);
    picker.blockReceived('a', block(3, 0));
    picker.pieceVerified(3);
    assert.equal(picker.wantedMissingCount(), 0);
    assert.equal(picker.missingCount(), 2);
    assert.equal(picker.inEndgame, false);
    assert.deepEqual(picker.pick('a', 10), []);
  });

  it('takes a skipped piece back into rarest-first when its file is selected again', () => {
    //            piece: 0123   availability 2 1 2 2
    const picker = swarm({ a: '1111', b: '1011' });
    picker.setPriorities([N, S, N, N]);
    assert.ok(!names(picker.pick('a', 3)).includes('1:0'));
    picker.setPriorities([N, N, N, N]);
    // the rarest piece, once more wanted, comes first among new pieces
    assert.deepEqual(names(picker.pick('a', 1)), ['1:0']);
    // availability kept counting while it was skipped
    picker.addPeer('c', Bitfield.fromString('0100'));
    assert.equal(picker.availability(1), 2);
  });

  it('stops asking for the rest of a started piece once it is skipped, and resumes it after', () => {
    const picker = swarm({ a: '11' }, { blocks: 4 });
    picker.setPriorities([N, S]);
    assert.deepEqual(names(picker.pick('a', 2)), ['0:0', '0:1']);
    picker.setPriorities([S, N]);
    assert.deepEqual(names(picker.pick('a', 2)), ['1:0', '1:1']);
    picker.setPriorities([N, N]);
    // piece 0 is started: finished first (fewest free blocks after piece 1's)
    assert.deepEqual(names(picker.pick('a', 4)), ['0:2', '0:3', '1:2', '1:3']);
  });

  it('explicit requests (pickPiece) still fetch a skipped piece', () => {
    const picker = swarm({ a: '11' });
    picker.setPriorities([S, N]);
    assert.deepEqual(names(picker.pickPiece('a', 0, 4)), ['0:0']);
  });

  it('starts high-priority pieces before rarer normal ones, rarest first among them', () => {
    //            piece: 012345  availability 1 3 3 2 3 3
    const picker = swarm({ a: '111111', b: '011111', c: '011011' });
    picker.setPriorities([N, N, H, N, N, H]);
    assert.deepEqual(names(picker.pick('a', 3)), ['2:0', '5:0', '0:0']);
    picker.setPriorities([N, N, N, H, N, H]);
    // 2 and 5 are in flight; 3 (high now) comes first, then a normal one (1 and 4 tie at 3)
    const [first, second] = names(picker.pick('a', 2));
    assert.equal(first, '3:0');
    assert.ok(second === '1:0' || second === '4:0', `${second} is not one of the normal pieces left`);
  });

  it('refuses a priority list of the wrong length', () => {
    const picker = swarm({ a: '11' });
    assert.throws(
      () => picker.setPriorities([N]),
      (e: unknown) => isChunkswarmError(e, 'EUSAGE'),
    );
  });
});

describe('stream window', () => {
  it('picks the window in order before started pieces, suggestions and rarest-first', () => {
    //            piece: 01234567
    const picker = swarm({ a: '11111111', b: '00000011' }, { blocks: 2 });
    picker.pickPiece('a', 0, 1); // piece 0 started
    picker.setStreamWindow({ first: 3, count: 3 });
    assert.deepEqual(names(picker.pick('a', 5, new Set([7]))), ['3:0', '3:1', '4:0', '4:1', '5:0']);
    // next call: rest of the window, then the started piece
    assert.deepEqual(names(picker.pick('a', 2)), ['5:1', '0:1']);
  });

  it('moves with the reader (seeking) and passes over pieces held, skipped or lacking at the peer', () => {
    const picker = swarm({ a: '11110111' }, { have: '01000000' });
    picker.setPriorities([N, N, N, S, N, N, N, N]);
    picker.setStreamWindow({ first: 1, count: 5 });
    // 1 held, 3 skipped, 4 not at a: 2 then 5
    assert.deepEqual(names(picker.pick('a', 2)), ['2:0', '5:0']);
    picker.setStreamWindow({ first: 6, count: 10 }); // clamped at the end of the torrent
    assert.deepEqual(picker.streamWindow, { first: 6, count: 2 });
    assert.deepEqual(names(picker.pick('a', 2)), ['6:0', '7:0']);
    picker.setStreamWindow(undefined);
    assert.equal(picker.streamWindow, undefined);
  });

  it('in endgame asks for window blocks before others', () => {
    const picker = swarm({ a: '111', b: '111' });
    picker.pick('a', 3); // every block in flight to a: endgame
    assert.equal(picker.inEndgame, true);
    picker.setStreamWindow({ first: 2, count: 1 });
    assert.deepEqual(names(picker.pick('b', 1)), ['2:0']);
  });

  it('refuses a window outside the torrent or of no pieces', () => {
    const picker = swarm({ a: '11' });
    const usage = (e: unknown) => isChunkswarmError(e, 'EUSAGE');
    assert.throws(() => picker.setStreamWindow({ first: 2, count: 1 }), usage);
    assert.throws(() => picker.setStreamWindow({ first: 0, count: 0 }), usage);
  });
});
