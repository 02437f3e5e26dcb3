import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLesson } from './run.js';

test('super-seeding ends by itself: the seeder sends less of the file with super-seeding than without', async () => {
  const run = await runLesson('super-seeding');
  assert.equal(run.code, 0, run.output);
  const m = /^seeder sent ([\d.]+)x the file with super-seeding .*, ([\d.]+)x without/.exec(run.proof);
  assert.ok(m, run.proof);
  const on = Number(m[1]);
  const off = Number(m[2]);
  assert.ok(on >= 0.99, run.proof);
  assert.ok(on < off, run.proof);
});
