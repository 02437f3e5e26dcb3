import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLesson } from './run.js';

test('corrupt-peer ends by itself: the corrupt seeder is banned and both downloads verify', async () => {
  const run = await runLesson('corrupt-peer');
  assert.equal(run.code, 0, run.output);
  const m =
    /^X banned by (\d)\/2 leechers .*; (\d+) bad chunks thrown away in all; (\d)\/2 downloads complete with every chunk verified/.exec(
      run.proof,
    );
  assert.ok(m, run.proof);
  const [, banned, bad, intact] = m.map(Number) as number[];
  assert.equal(banned, 2);
  assert.ok(bad! >= 6, run.proof);
  assert.equal(intact, 2);
  for (const f of run.proof.matchAll(/after (\d+) hash failures/g)) assert.ok(Number(f[1]) >= 3, run.proof);
});
