import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLesson } from './run.js';

test('free-rider ends by itself: the free rider downloads slower than the honest leechers and finishes after most of them', async () => {
  const run = await runLesson('free-rider');
  assert.equal(run.code, 0, run.output);
  const m =
    /the free rider downloaded at (\d+) KiB\/s, the honest leechers at (\d+) KiB\/s.*it uploaded (\d+) bytes.*the free rider at [\d.]+ s \(behind most\)$/.exec(
      run.proof,
    );
  assert.ok(m, run.proof);
  const [, rider, honest, uploaded] = m.map(Number) as number[];
  assert.ok(rider! < honest!, run.proof);
  assert.equal(uploaded, 0);
});
