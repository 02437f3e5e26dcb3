import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLesson } from './run.js';

test('rarest-first ends by itself: leechers start the rarest chunks and finish after the seeder left', async () => {
  const run = await runLesson('rarest-first');
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /tracker page: http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(run.output, /seeder +127\.0\.0\.1:\d+ +page: http:\/\/127\.0\.0\.1:\d+\//);
  // "R/S chunks the leechers started were the rarest their sender had (held by P ..., the sender's other chunks by O); ...
  //  (rarest held by K) ... sent C x the file; D/5 leechers completed ..."
  const m =
    /^(\d+)\/(\d+) chunks .*\(held by ([\d.]+) other peers .* other chunks by ([\d.]+)\); .*rarest held by (\d+)\).* (\d)\/5 leechers completed/.exec(
      run.proof,
    );
  assert.ok(m, run.proof);
  const [, rarest, started, picked, others, minHeld, completed] = m.map(Number) as number[];
  assert.ok(started! > 0 && rarest! / started! >= 0.8, run.proof);
  assert.ok(picked! <= others!, run.proof);
  assert.ok(minHeld! >= 1, run.proof);
  assert.equal(completed, 5);
});
