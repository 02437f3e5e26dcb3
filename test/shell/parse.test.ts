import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { INVALID, parseCommand, resolveChunks, resolveTarget } from '../../src/shell/parse.js';

const usage = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof ChunkswarmError && e.code === 'EUSAGE' && pattern.test(e.message),
  );

test('every seed command parses, with its arguments', () => {
  assert.deepEqual(parseCommand('/connect_tracker'), { name: '/connect_tracker', args: [] });
  assert.deepEqual(parseCommand('  /request_download 127.0.0.1:6881 3 '), {
    name: '/request_download',
    args: ['127.0.0.1:6881', '3'],
  });
  assert.deepEqual(parseCommand('/merge_chunks'), { name: '/merge_chunks', args: [] });
  assert.deepEqual(parseCommand('/merge_chunks out'), { name: '/merge_chunks', args: ['out'] });
  assert.deepEqual(parseCommand('/select'), { name: '/select', args: [] });
  assert.deepEqual(parseCommand('/select 0,2-4'), { name: '/select', args: ['0,2-4'] });
});

test('unknown commands and wrong argument counts give the one-line invalid reply', () => {
  usage(() => parseCommand('/nope'), /^Invalid command — type \/help$/);
  usage(() => parseCommand('hello'), /^Invalid command/);
  usage(() => parseCommand('/connect_peer'), /usage: \/connect_peer T/);
  usage(() => parseCommand('/request_download 1.2.3.4:5'), /usage/);
  usage(() => parseCommand('/help me please'), /usage/);
  usage(() => parseCommand('/__proto__'), /^Invalid command/);
  assert.ok(INVALID.includes('/help'));
});

const known = [
  { ip: '10.0.0.1', port: 6881 },
  { ip: '10.0.0.2', port: 6881 },
  { ip: '10.0.0.2', port: 6882 },
];

test('targets: ip:port, a unique bare ip, an index, IPv6 in brackets', () => {
  assert.deepEqual(resolveTarget('10.0.0.9:7000', known), { ip: '10.0.0.9', port: 7000 });
  assert.deepEqual(resolveTarget('10.0.0.1', known), { ip: '10.0.0.1', port: 6881 });
  assert.deepEqual(resolveTarget('2', known), { ip: '10.0.0.2', port: 6882 });
  assert.deepEqual(resolveTarget('[::1]:6881', known), { ip: '::1', port: 6881 });
  assert.deepEqual(resolveTarget('localhost:9', known), { ip: '127.0.0.1', port: 9 });
});

test('targets that cannot be resolved say why', () => {
  usage(() => resolveTarget('10.0.0.2', known), /2 peers at 10\.0\.0\.2/);
  usage(() => resolveTarget('10.0.0.7', known), /no known peer/);
  usage(() => resolveTarget('7', known), /no peer #7/);
  usage(() => resolveTarget('1.2.3.4:70000', known), /bad port/);
  usage(() => resolveTarget('peer-x', known), /ip:port/);
});

test('chunks: index, chunk file name, all/missing, and out of range', () => {
  const missing = () => [1, 4];
  assert.deepEqual(resolveChunks('3', 'lecture.bin', 11, missing), [3]);
  assert.deepEqual(resolveChunks('lecture.bin.part10', 'lecture.bin', 11, missing), [10]);
  assert.deepEqual(resolveChunks('all', 'lecture.bin', 11, missing), [1, 4]);
  assert.deepEqual(resolveChunks('missing', 'lecture.bin', 11, missing), [1, 4]);
  usage(() => resolveChunks('11', 'lecture.bin', 11, missing), /out of range: this torrent has chunks 0-10/);
  usage(() => resolveChunks('-1', 'lecture.bin', 11, missing), /chunk should be/);
  usage(() => resolveChunks('other.part1', 'lecture.bin', 11, missing), /chunk should be/);
});
