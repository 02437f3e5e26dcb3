/** ProcessGroup against real child processes: lines, /proc figures, /usr/bin/time, stopping by PID. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  freePort,
  isListening,
  ProcessGroup,
  procCpuSeconds,
  startReady,
  waitListening,
} from '../lib/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-procs-'));
const group = new ProcessGroup(dir);
after(async () => {
  await group.stopAll(1000);
  rmSync(dir, { recursive: true, force: true });
});

// A child that prints, burns a little CPU, prints again, then waits to be stopped.
const CHILD = `
process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });
console.log('hello');
let x = 0; for (let i = 0; i < 3e7; i++) x += i;
console.error('busy done ' + (x > 0));
setInterval(() => {}, 1000);
`;

test('waits for lines on stdout and stderr, reads CPU from /proc, stops by PID', async () => {
  const p = await group.start('child', process.execPath, ['-e', CHILD]);
  await p.waitForLine(/^hello$/, 10_000);
  await p.waitForLine(/^busy done true$/, 10_000);
  const cpu = p.cpuSeconds();
  assert.ok(cpu !== null && cpu > 0, `CPU seconds from /proc: ${cpu}`);
  assert.ok((p.peakRssKiB() ?? 0) > 0);
  const exit = await p.stop(5000);
  assert.equal(exit.code, 0);
  assert.ok(
    p.lines.some((l) => l.line === 'bye'),
    'SIGTERM reached the program',
  );
  assert.equal(procCpuSeconds(p.pid), null, 'gone from /proc after exit');
});

test('waitForLine rejects when the program exits first, with its last output', async () => {
  const p = await group.start('short', process.execPath, ['-e', "console.log('only line'); process.exit(3)"]);
  await assert.rejects(p.waitForLine(/never/, 10_000), /exited \(code 3\).*only line/);
});

// Dies of a signal before it is ready, the way a crashing start-up does, or prints `ready`.
const crashing = (attempt: number) =>
  group.start(`crashy-${attempt}`, process.execPath, ['-e', "process.kill(process.pid, 'SIGSEGV')"]);
const readying = (attempt: number) =>
  group.start(`ready-${attempt}`, process.execPath, [
    '-e',
    "console.log('ready'); setInterval(() => {}, 1000)",
  ]);

test('startReady starts a program once more when a signal kills it before it is ready, and says so', async () => {
  const said: string[] = [];
  const p = await startReady(
    (n) => (n === 1 ? crashing(n) : readying(n)),
    /^ready$/,
    10_000,
    (l) => said.push(l),
  );
  assert.equal(p.name, 'ready-2');
  assert.deepEqual(said, ['crashy-1 died of SIGSEGV before it was ready; starting it once more']);
  await p.stop(2000);
});

test('startReady gives up on a second crash, and never retries a program that exits with a code', async () => {
  await assert.rejects(
    startReady(crashing, /^ready$/, 10_000, () => {}),
    /crashy-2 exited \(signal SIGSEGV\)/,
  );
  let starts = 0;
  const failing = (n: number) => {
    starts++;
    return group.start(`fails-${n}`, process.execPath, ['-e', 'process.exit(2)']);
  };
  await assert.rejects(
    startReady(failing, /^ready$/, 10_000, () => {}),
    /exited \(code 2\)/,
  );
  assert.equal(starts, 1);
});

test('under /usr/bin/time: the PID is the program, stop reaches it, and the report has CPU and RSS', {
  skip: !existsSync('/usr/bin/time') && 'no /usr/bin/time',
}, async () => {
  const p = await group.start('timed', process.execPath, ['-e', CHILD], { timed: true });
  assert.notEqual(p.pid, p.child.pid, 'the PID recorded is the program, not the wrapper');
  await p.waitForLine(/^busy done/, 10_000);
  const exit = await p.stop(5000);
  assert.equal(exit.code, 0, 'time exits with the status of the program, which exited 0 on SIGTERM');
  const r = p.timeReport();
  assert.ok(r, 'time wrote its report');
  assert.ok(r.cpuSeconds > 0);
  assert.ok(r.maxRssKiB > 10_000, `peak RSS of a node process is more than 10 MB: ${r.maxRssKiB} KiB`);
});

test('a program that ignores SIGTERM is killed after the grace period', async () => {
  const p = await group.start('stubborn', process.execPath, [
    '-e',
    "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);",
  ]);
  await p.waitForLine(/^up$/, 10_000);
  const exit = await p.stop(200);
  assert.equal(exit.signal, 'SIGKILL');
});

test('a listening port shows in /proc/net/tcp without connecting to it', async () => {
  const port = await freePort();
  assert.equal(isListening(port), false);
  const srv = createServer((s) => {
    s.destroy();
    assert.fail('waitListening must not connect');
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  try {
    await waitListening(port, 5000);
    assert.equal(isListening(port), true);
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
  await assert.rejects(waitListening(port, 50), /nothing listened/);
});

test('a closed group stops its processes and starts no more', async () => {
  const g = new ProcessGroup(dir);
  const p = await g.start('sleeper', process.execPath, [
    '-e',
    "console.log('up'); setInterval(() => {}, 1000);",
  ]);
  await p.waitForLine(/^up$/, 10_000);
  await g.close(1000);
  assert.ok(p.exit, 'stopped');
  await assert.rejects(g.start('late', process.execPath, ['-e', '']), /was stopped/);
});
