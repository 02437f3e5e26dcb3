import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { ProgressBoard } from '../../src/cli/progress.js';

const torrent = { name: 'movie.mkv', done: 512 << 10, total: 1 << 20, rate: 64 << 10, upRate: 0, peers: 3 };

/** What a board draws into `out` for one torrent's update, then stop. */
function drawn(out: PassThrough, expectTTY: boolean): string {
  let text = '';
  out.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const board = new ProgressBoard(out as unknown as NodeJS.WriteStream);
  assert.equal(board.isTTY, expectTTY);
  board.update('a', torrent);
  board.stop();
  return text;
}

test('on a terminal the board draws a bar per torrent (the bar package loads then)', () => {
  const text = drawn(Object.assign(new PassThrough(), { isTTY: true, columns: 120 }), true);
  assert.match(text, /movie\.mkv \[[^\]]*\] 50% \| 64\.0 KiB\/s ↓ .* \| 3 peers \| ETA/);
});

test('into a pipe the board draws nothing', () => {
  assert.equal(drawn(new PassThrough(), false), '');
});
