import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLesson } from './run.js';

function rates(list: string): number[] {
  return [...list.matchAll(/(\d+) KiB\/s/g)].map((m) => Number(m[1]));
}

test('choking ends by itself: the fast uploaders get more from the other leechers than the slow ones', async () => {
  const run = await runLesson('choking');
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^ {3}A -> /m);
  const m =
    /A-C \(256 KiB\/s\) got (.*) from the other leechers, the slow D-F \(32 KiB\/s\) (.*); fast on/.exec(
      run.proof,
    );
  assert.ok(m, run.proof);
  const fast = rates(m[1]!);
  const slow = rates(m[2]!);
  assert.equal(fast.length, 3);
  assert.equal(slow.length, 3);
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(avg(fast) > avg(slow), run.proof);
});
