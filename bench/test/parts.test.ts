/** The pure parts of the bench: parsers of /proc, GNU time and wrk output, statistics, options, report. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { FIGURES, parseBenchArgs, UsageError } from '../lib/args.js';
import { binNodeFlags } from '../lib/clients.js';
import { keystream, sha1File, writeSeededFile } from '../lib/datafile.js';
import { parseGitStatus, QUIET_LOAD_LIMIT, quietCheckRefusal, roundLoad } from '../lib/machine.js';
import { clientEnv, parseListeningPorts, parseProcStatCpu, parseTimeReport } from '../lib/procs.js';
import { type CpuProfile, summariseProfile } from '../lib/profile.js';
import { commitsOf, formatTable, localDate, writeResults } from '../lib/report.js';
import { max, mbPerSecond, median, ratio, round } from '../lib/stats.js';
import {
  ACTION_ANNOUNCE,
  ANNOUNCE_BYTES,
  EVENT,
  formatUdpLoadResult,
  parseUdpLoadResult,
  peerOf,
  readReplyHead,
  writeAnnounce,
  writeConnect,
} from '../lib/udp-load.js';
import { parseWrkResult, servedAnnounces, swarmHashes } from '../lib/wrk.js';
import { cpuPerGiB } from '../scenarios/pair.js';
import { efficiencyTarget, parseTotals, swarmRows, swarmTraffic } from '../scenarios/swarm.js';
import { floorRows, summarise, trackerRows } from '../scenarios/tracker.js';

test('CPU seconds from /proc/PID/stat, also when the command name holds spaces and parentheses', () => {
  // fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const stat = '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 9000 0 3 0 250 75 0 0 20 0 11 0 1000 0 0';
  assert.equal(parseProcStatCpu(stat, 100), 3.25);
  assert.equal(parseProcStatCpu(stat, 250), 1.3);
  assert.throws(() => parseProcStatCpu('no parenthesis here', 100));
  assert.throws(() => parseProcStatCpu('1 (x) S 1 2', 100), /truncated/);
});

test('GNU time report, with or without the "Command exited" line before it', () => {
  const r = parseTimeReport(
    'Command exited with non-zero status 1\nbench-time user=1.25 sys=0.50 maxrss_kb=123456 wall=3.10\n',
  );
  assert.deepEqual(r, {
    userSeconds: 1.25,
    systemSeconds: 0.5,
    cpuSeconds: 1.75,
    maxRssKiB: 123456,
    wallSeconds: 3.1,
  });
  assert.equal(parseTimeReport(''), null);
  assert.equal(parseTimeReport('Command terminated by signal 9\n'), null);
});

test('listening ports from /proc/net/tcp: only LISTEN (0A) rows count', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1AE1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
    '   1: 0100007F:C350 0100007F:1AE1 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
    '   2: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 3 1',
    '',
  ].join('\n');
  assert.deepEqual([...parseListeningPorts(text)].sort(), [0x1ae1, 0x1f90].sort());
});

test('median, max, ratio and rates ignore missing values', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([null, 5, undefined, Number.NaN]), 5);
  assert.equal(median([]), null);
  assert.equal(max([1, null, 7, 3]), 7);
  assert.equal(max([null]), null);
  assert.equal(ratio(3, 2), 1.5);
  assert.equal(ratio(3, 0), null);
  assert.equal(ratio(null, 2), null);
  assert.equal(mbPerSecond(2e6, 2), 1);
  assert.equal(mbPerSecond(2e6, 0), null);
  assert.equal(round(1.23456, 2), 1.23);
  assert.equal(round(null), null);
});

test('options: defaults, --only in canonical order, bad values are usage errors', () => {
  const d = parseBenchArgs([]);
  assert.deepEqual(d.only, [...FIGURES]);
  assert.equal(d.rounds, 3);
  assert.equal(d.sizeMiB, 1024);
  assert.equal(d.swarmMiB, 128);
  assert.equal(d.swarmPieceKiB, 1024);
  assert.equal(parseBenchArgs(['--swarm-piece-kib', '512']).swarmPieceKiB, 512);
  assert.throws(() => parseBenchArgs(['--swarm-piece-kib', '8']), UsageError);
  assert.throws(() => parseBenchArgs(['--swarm-piece-kib', '768']), UsageError);
  assert.equal(d.leechers, 8);
  assert.equal(d.uplinkMiB, 8);
  assert.equal(d.build, true);
  assert.equal(d.committed, false);
  assert.equal(parseBenchArgs(['--committed']).committed, true);
  assert.equal(d.quietCheck, false);
  assert.equal(parseBenchArgs(['--quiet-check']).quietCheck, true);
  assert.equal(d.pairTrace, false);
  assert.equal(parseBenchArgs(['--pair-trace']).pairTrace, true);
  assert.throws(() => parseBenchArgs(['--quiet-check=yes']), UsageError);
  const o = parseBenchArgs(['--only', 'sha1,pair', '--rounds', '5', '--size-mib', '64', '--no-build']);
  assert.deepEqual(o.only, ['pair', 'sha1']);
  assert.equal(o.rounds, 5);
  assert.equal(o.sizeMiB, 64);
  assert.equal(o.build, false);
  assert.throws(() => parseBenchArgs(['--only', 'pair,fast']), UsageError);
  assert.throws(() => parseBenchArgs(['--only', '']), UsageError);
  assert.throws(() => parseBenchArgs(['--rounds', '0']), UsageError);
  assert.throws(() => parseBenchArgs(['--rounds', '2.5']), UsageError);
  assert.throws(() => parseBenchArgs(['--frobnicate']), UsageError);
});

test('test data: same seed same bytes, other seed other bytes, and it does not compress', () => {
  const a = Buffer.alloc(1 << 20);
  const b = Buffer.alloc(1 << 20);
  const c = Buffer.alloc(1 << 20);
  keystream(7)(a);
  keystream(7)(b);
  keystream(8)(c);
  assert.ok(a.equals(b));
  assert.ok(!a.equals(c));
  assert.ok(deflateRawSync(a).length > a.length * 0.99, 'keystream output compressed: not random enough');

  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  try {
    // an odd size checks the last partial block
    const size = (3 << 20) + 12345;
    writeSeededFile(join(dir, 'x'), size, 7);
    writeSeededFile(join(dir, 'y'), size, 7);
    const x = readFileSync(join(dir, 'x'));
    assert.equal(x.length, size);
    assert.ok(x.subarray(0, 1 << 20).equals(a), 'the file starts with the same keystream');
    assert.equal(sha1File(join(dir, 'x')), sha1File(join(dir, 'y')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('wrk result line: parsed, and served announces exclude non-200 replies and refusals', () => {
  const out =
    'Running 10s test @ http://127.0.0.1:1/announce\n' +
    'BENCH_WRK requests=1000 ok=990 not_ok=4 refused=6 duration_s=10.010 err_connect=0 err_read=1000 err_write=0 ' +
    'err_timeout=0 err_status=4 p50_ms=1.500 p99_ms=9.250\n';
  const r = parseWrkResult(out);
  assert.ok(r);
  assert.equal(r.requests, 1000);
  assert.equal(r.errRead, 1000);
  assert.equal(r.p99Ms, 9.25);
  assert.equal(servedAnnounces(r), 990);
  assert.equal(parseWrkResult('no result here'), null);
  assert.throws(() => parseWrkResult('BENCH_WRK requests=1'), /lacks ok/);
});

test('swarm infohashes are reproducible, distinct and 40 hex digits', () => {
  const a = swarmHashes(50);
  assert.deepEqual(a, swarmHashes(50));
  assert.equal(new Set(a).size, 50);
  for (const h of a) assert.match(h, /^[0-9a-f]{40}$/);
});

test('table: columns line up and numbers are right-aligned', () => {
  const text = formatTable([
    {
      figure: 'pair MB/s',
      chunkswarm: '95',
      reference: '230',
      ratio: '0.41x',
      target: '>= 1.0x',
      verdict: 'MISSED',
    },
    { figure: 'sha1 MB/s', chunkswarm: '1900', reference: '', ratio: '', target: '', verdict: '' },
  ]);
  const lines = text.split('\n');
  assert.equal(lines.length, 4);
  const col = lines[0]?.indexOf('chunkswarm') ?? -1;
  // right-aligned under a 10-wide header: the last digit sits at the header's last column
  assert.equal(lines[2]?.slice(col, col + 10), '        95');
  assert.equal(lines[3]?.slice(col, col + 10), '      1900');
  assert.match(lines[2] ?? '', /MISSED$/);
});

test('results file: a partial run keeps the figures it did not measure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  try {
    const path = join(dir, 'results', `${localDate()}.json`);
    const row = { figure: 'f', chunkswarm: '1', reference: '2', ratio: '', target: '', verdict: '' };
    writeResults(path, { cores: 2 }, { pair: { mbps: 1 }, sha1: { mbps: 2 } }, { pair: [row], sha1: [row] });
    const out = writeResults(path, { cores: 2 }, { sha1: { mbps: 3 } }, { sha1: [row] });
    assert.deepEqual(out.figures, { pair: { mbps: 1 }, sha1: { mbps: 3 } });
    assert.deepEqual(out.commits, [], 'figures without a commit name none');
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')).figures, out.figures);
    writeFileSync(path, '{broken');
    const fresh = writeResults(path, { cores: 2 }, { tracker: { x: 1 } }, {});
    assert.deepEqual(fresh.figures, { tracker: { x: 1 } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CPU profile summary: self time per function, idle kept apart', () => {
  const frame = (functionName: string, line: number) => ({
    functionName,
    url: 'file:///p/src/x.js',
    lineNumber: line,
  });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', 0) },
      { id: 2, callFrame: frame('hashPiece', 9) },
      { id: 3, callFrame: frame('parse', 19) },
      { id: 4, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    ],
    // the delta after a sample is the time of that sample
    samples: [2, 2, 3, 4, 2],
    timeDeltas: [0, 1000, 3000, 1000, 5000],
    startTime: 0,
    endTime: 10000,
  };
  const s = summariseProfile(profile, 'x.cpuprofile', '/p');
  assert.equal(s.idleMs, 5);
  assert.equal(s.busyMs, 5);
  assert.equal(s.top[0]?.name, 'hashPiece');
  assert.equal(s.top[0]?.selfMs, 4);
  assert.equal(s.top[0]?.where, 'src/x.js:10');
  assert.equal(s.top[0]?.percent, 80);
  assert.equal(s.top[1]?.name, 'parse');
});

test('swarm traffic: copies from the seeder, and totals read from chunkswarm download', () => {
  const mib = 1 << 20;
  // 3 leechers got 100 MiB each (300 in all); they uploaded 150 between them: the seeder sent 150 = 1.5 copies
  const t = swarmTraffic([50 * mib, 100 * mib, 0], [100 * mib, 100 * mib, 100 * mib], 100 * mib);
  assert.equal(t.leecherDownBytes, 300 * mib);
  assert.equal(t.seederCopies, 1.5);
  assert.equal(
    swarmTraffic([1, null], [1, 1], 1).seederCopies,
    null,
    'a missing report leaves the figure out',
  );
  assert.deepEqual(
    parseTotals([
      'complete x.bin 1 MiB in 1s',
      'totals x.bin: downloaded 1048576 B, uploaded 524288 B, 0 hash failures',
      'bye',
    ]),
    { down: 1048576, up: 524288 },
  );
  assert.equal(parseTotals(['complete x.bin']), null);
});

test('results file: names every commit its figures were measured on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  try {
    const path = join(dir, 'r.json');
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const one = writeResults(path, {}, { pair: { commit: a }, sha1: { commit: a } }, {});
    assert.deepEqual(one.commits, [a], 'one run, one commit');
    const two = writeResults(path, {}, { sha1: { commit: b } }, {});
    assert.deepEqual(
      two.commits,
      [a, b],
      'a later partial run adds its commit; the pair figure keeps its own',
    );
    const three = writeResults(path, {}, { pair: { commit: b } }, {});
    assert.deepEqual(three.commits, [b], 'once every figure is re-measured only the new commit is left');
    assert.deepEqual(commitsOf({ x: null, y: 3, z: { commit: 7 } }), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--quiet-check: measures at a load of 1 or less, refuses above it in one line', () => {
  assert.equal(QUIET_LOAD_LIMIT, 1);
  assert.equal(quietCheckRefusal(0), null);
  assert.equal(quietCheckRefusal(1), null);
  const r = quietCheckRefusal(1.01);
  assert.ok(r);
  assert.match(r, /1-minute load 1\.01 is above 1/);
  assert.doesNotMatch(r, /\n/, 'one line');
  assert.equal(quietCheckRefusal(3.5, 4), null, 'the limit is a parameter');
  assert.match(quietCheckRefusal(Number.NaN) ?? '', /unknown/, 'an unreadable load refuses too');
  assert.equal(roundLoad(1.23456), 1.23);
  assert.equal(roundLoad(undefined), 0);
});

test('git status: changed, untracked and renamed paths make the tree dirty; ignored folders do not', () => {
  assert.deepEqual(parseGitStatus(''), { dirty: false, paths: [] });
  const status = [
    ' M src/tracker/server/udp.ts',
    'M  bench/run.ts',
    '?? notes.txt',
    'R  old name.ts -> src/new name.ts',
    '?? bench/results/2026-12-04.json',
    ' M bench/results',
    '?? "odd\\tname"',
    '',
  ].join('\n');
  const t = parseGitStatus(status, ['bench/results']);
  assert.equal(t.dirty, true);
  assert.deepEqual(t.paths, [
    'src/tracker/server/udp.ts',
    'bench/run.ts',
    'notes.txt',
    'src/new name.ts',
    'odd\\tname',
  ]);
  assert.deepEqual(
    parseGitStatus('?? bench/results/x.json\n M bench/results-old.ts\n', ['bench/results']).paths,
    ['bench/results-old.ts'],
    'a prefix matches whole folder names only',
  );
  const many = Array.from({ length: 30 }, (_, i) => ` M f${i}`).join('\n');
  assert.equal(parseGitStatus(many).paths.length, 20, 'at most 20 paths are kept');
});

test('udp load: connect and announce packets laid out as BEP 15 says', () => {
  const c = writeConnect(Buffer.alloc(16), 0xdeadbeef);
  assert.equal(c.toString('hex'), '0000041727101980' + '00000000' + 'deadbeef');
  const id = Buffer.from('0102030405060708', 'hex');
  const ih = Buffer.alloc(20, 0xaa);
  const peer = peerOf(12345, 300);
  const a = writeAnnounce(Buffer.alloc(98, 0xff), {
    connectionId: id,
    transactionId: 7,
    infoHash: ih,
    peerId: peer.peerId,
    left: 6 * 2 ** 32 + 5,
    event: EVENT.started,
    key: 0x01020304,
    numWant: 50,
    port: peer.port,
  });
  assert.equal(a.length, ANNOUNCE_BYTES);
  assert.ok(a.subarray(0, 8).equals(id));
  assert.equal(a.readUInt32BE(8), ACTION_ANNOUNCE);
  assert.equal(a.readUInt32BE(12), 7);
  assert.ok(a.subarray(16, 36).equals(ih));
  assert.equal(a.subarray(36, 56).toString('latin1'), '-BN0001-000000012345');
  assert.equal(a.readBigUInt64BE(56), 0n, 'downloaded');
  assert.equal(a.readBigUInt64BE(64), 6n * 2n ** 32n + 5n, 'left, above 32 bits too');
  assert.equal(a.readBigUInt64BE(72), 0n, 'uploaded');
  assert.equal(a.readUInt32BE(80), 2, 'event started');
  assert.equal(a.readUInt32BE(84), 0, 'IP 0: the sender');
  assert.equal(a.readUInt32BE(88), 0x01020304);
  assert.equal(a.readInt32BE(92), 50);
  assert.equal(a.readUInt16BE(96), peer.port);
  assert.deepEqual(readReplyHead(Buffer.from('0000000300000009', 'hex')), { action: 3, transactionId: 9 });
  assert.equal(readReplyHead(Buffer.alloc(7)), null);
});

test('udp load: the population matches announce.lua (swarm, port, seeds)', () => {
  const p = peerOf(601, 300);
  assert.equal(p.swarm, 1);
  assert.equal(p.port, 10002);
  assert.equal(p.seed, false);
  assert.equal(peerOf(600, 300).seed, true, 'a quarter are seeds: k % 4 === 0');
  assert.equal(peerOf(0, 300).peerId.length, 20);
  // (port, swarm) is unique within a swarm, since every request comes from 127.0.0.1
  const seen = new Set<string>();
  for (let k = 0; k < 20000; k++) {
    const q = peerOf(k, 300);
    seen.add(`${q.swarm}:${q.port}`);
  }
  assert.equal(seen.size, 20000);
});

test('udp load result line: written and read back, the error text may hold spaces and =', () => {
  const r = {
    announces: 1200,
    connects: 1210,
    errors: 2,
    timeouts: 1,
    durationSeconds: 3.0125,
    p50Ms: 0.25,
    p99Ms: 4.5,
    cpuSeconds: 1.75,
    firstError: 'connection id expired: a=b\nsecond line',
  };
  const line = formatUdpLoadResult(r);
  assert.doesNotMatch(line, /\n/);
  const back = parseUdpLoadResult(`noise\n${line}\n`);
  assert.deepEqual(back, {
    ...r,
    durationSeconds: 3.013,
    firstError: 'connection id expired: a=b second line',
  });
  assert.equal(parseUdpLoadResult(formatUdpLoadResult({ ...r, firstError: null }))?.firstError, null);
  assert.equal(parseUdpLoadResult('nothing'), null);
  assert.throws(() => parseUdpLoadResult('BENCH_UDP announces=1 error=connects=2'), /lacks connects/);
});

test('tracker runs: wrk and udp results summarised alike; rows flag failures and an unfilled core', () => {
  const wrk = {
    requests: 1000,
    ok: 990,
    notOk: 4,
    refused: 6,
    durationSeconds: 10,
    errConnect: 0,
    errRead: 0,
    errWrite: 0,
    errTimeout: 0,
    errStatus: 4,
    p50Ms: 1,
    p99Ms: 2,
  };
  const h = summarise('http', false, wrk, 0.5);
  assert.equal(h.announces, 990);
  assert.equal(h.failures, 10);
  assert.equal(h.announcesPerSecond, 99);
  assert.equal(h.announcesPerCpuSecond, 1980);
  assert.equal(h.coreShare, 0.05);
  const udp = {
    announces: 3000,
    connects: 3001,
    errors: 0,
    timeouts: 0,
    durationSeconds: 2,
    p50Ms: 1,
    p99Ms: 2,
    cpuSeconds: 1,
    firstError: null,
  };
  const u = summarise('udp', true, udp, 1.9);
  assert.equal(u.failures, 0);
  assert.equal(u.announcesPerSecond, 1500);
  assert.equal(summarise('udp', false, udp, null).announcesPerCpuSecond, null);

  const half = summarise('udp', true, udp, 1.0);
  const rows = trackerRows(
    { http: h, udp: u, httpPinned: null, udpPinned: u },
    { http: { ...h, failures: 0 }, udp: half, httpPinned: null, udpPinned: half },
  );
  const byName = new Map(rows.map((r) => [r.figure, r]));
  const httpCpu = rows[0];
  assert.match(httpCpu?.chunkswarm ?? '', /1980 \(10 failed\)/);
  assert.equal(httpCpu?.verdict, 'MISSED', 'failures miss the target even at 1.00x');
  assert.equal(rows[1]?.ratio, '0.53x');
  assert.ok(
    ![...byName.keys()].some((f) => f.includes('http announces/s, tracker on 1 core')),
    'no pinned http row',
  );
  const pinned = rows.find((r) => r.figure.includes('udp announces/s, tracker on 1 core'));
  assert.equal(pinned?.chunkswarm, '1500', 'a tracker that filled 95% of its core is not flagged');
  assert.equal(pinned?.reference, '1500 (used 50% of it)');

  // The floor rows: the tracker's per-CPU figure over each floor's, no verdict.
  const floor = summarise('http', false, { ...wrk, notOk: 0, refused: 0 }, 0.25);
  const udpFloor = summarise('udp', false, udp, 1.0);
  const floors = floorRows({ http: h, udp: u }, { handles: floor, net: null, udp: udpFloor });
  assert.equal(floors.length, 3);
  assert.equal(floors[0]?.chunkswarm, '1980');
  assert.equal(floors[0]?.reference, '4000');
  assert.equal(floors[0]?.ratio, '0.49x');
  assert.equal(floors[0]?.verdict, '');
  assert.match(floors[1]?.figure ?? '', /net\.Server/);
  // the UDP floor is set against the tracker's UDP figure, not its HTTP one
  assert.match(floors[2]?.figure ?? '', /per datagram/);
  assert.equal(floors[2]?.chunkswarm, '1579');
  assert.equal(floors[2]?.ratio, '0.53x');
});

test('swarm rows: targets by swarm size, copies and CPU judged, caps that broke are marked', () => {
  assert.equal(efficiencyTarget(8), 0.95);
  assert.equal(efficiencyTarget(24), 0.85);
  const traffic = (copies: number) => ({
    leecherUpBytes: [1e6, 3e6],
    leecherDownBytes: 8e6,
    seederCopies: copies,
  });
  const run = (seconds: number, copies: number, cpu: number, startCpu: number | null = cpu / 4) => ({
    seconds,
    efficiency: 16 / seconds,
    leecherSeconds: [seconds],
    totalCpuSeconds: cpu,
    seederCpuSeconds: 1,
    trackerCpuSeconds: null,
    leecherStartCpuSeconds: startCpu,
    traffic: traffic(copies),
  });
  const cs = run(18, 1.05, 10);
  const rows = swarmRows('1+24', cs, run(40, 2.6, 12), 16, 0.85, true);
  assert.deepEqual(
    rows.map((r) => r.verdict),
    ['', 'met', 'met', '', 'met', ''],
  );
  assert.equal(rows[3]?.chunkswarm, '1-3');
  assert.deepEqual(
    [rows[5]?.chunkswarm, rows[5]?.reference, rows[5]?.ratio],
    ['2.5', '3.0', '0.83x'],
    "the leechers' CPU before the seeder started is shown beside the total, unjudged",
  );
  assert.equal(swarmRows('1+24', run(18, 1.05, 10, null), null, 16, 0.85, true)[5]?.chunkswarm, '-');
  const worse = swarmRows('1+24', run(14, 1.2, 20), run(40, 2.6, 12), 16, 0.85, true);
  assert.match(worse[1]?.chunkswarm ?? '', /caps broke/);
  assert.deepEqual(
    worse.map((r) => r.verdict),
    ['', 'MISSED', 'MISSED', '', 'MISSED', ''],
  );
  const second = swarmRows('super', cs, run(30, 1.1, 9), 16, 0.85, false);
  assert.deepEqual(
    second.map((r) => r.verdict),
    ['', '', '', '', 'MISSED', ''],
    'the second block judges only CPU against its own reference',
  );
  const none = swarmRows('super', cs, null, 16, 0.85, false);
  assert.equal(none[0]?.reference, 'did not finish', 'a reference run that failed is shown as such');
  assert.equal(none[0]?.chunkswarm, '18.0', "chunkswarm's figure stays");
  assert.equal(none[4]?.verdict, 'n/a');
});

test('pair CPU per GiB', () => {
  assert.equal(cpuPerGiB(3, 512 * 1024 * 1024), 6);
  assert.equal(cpuPerGiB(null, 1), null);
  assert.equal(cpuPerGiB(1, 0), null);
});

test('the clients a figure starts do not get the CA bundle a machine names for Node, and colours are off', () => {
  const base = { PATH: '/usr/bin', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', HOME: '/root' };
  const env = clientEnv(base, { CHUNKSWARM_CODE_CACHE_DIR: '/tmp/c' });
  assert.deepEqual(env, {
    PATH: '/usr/bin',
    HOME: '/root',
    NO_COLOR: '1',
    CHUNKSWARM_CODE_CACHE_DIR: '/tmp/c',
  });
  assert.equal(base.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt', 'the bench keeps its own');
  // A figure that names it for a client on purpose still gives it.
  assert.equal(clientEnv(base, { NODE_EXTRA_CA_CERTS: '/x.pem' }).NODE_EXTRA_CA_CERTS, '/x.pem');
});

test("the bench starts chunkswarm with the node flags of its bin's first line, as a shell would", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bin-'));
  try {
    const bin = join(dir, 'main.cjs');
    writeFileSync(bin, '#!/usr/bin/env -S node --max-semi-space-size=2 --stack-size=900\n"use strict";\n');
    assert.deepEqual(binNodeFlags(bin), ['--max-semi-space-size=2', '--stack-size=900']);
    writeFileSync(bin, '#!/usr/bin/env node\n"use strict";\n');
    assert.deepEqual(binNodeFlags(bin), []);
    writeFileSync(bin, '"use strict";\n');
    assert.deepEqual(binNodeFlags(bin), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
