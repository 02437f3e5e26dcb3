import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLesson } from './run.js';

test('an unknown lesson is refused with the list of lessons', async () => {
  const run = await runLesson('no-such-lesson', 20_000);
  assert.equal(run.code, 2);
  assert.match(run.output, /rarest-first\|choking\|free-rider\|corrupt-peer\|super-seeding/);
  assert.equal(run.proof, '');
});
