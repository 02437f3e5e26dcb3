/**
 * Hostile .torrent files (issue 7): malformed, truncated, deeply nested, oversized, or naming paths that
 * would leave the download folder. Every command that reads a torrent (info, seed, peer, download) must
 * exit 2 with one line on stderr saying what is wrong, no stack trace, and write nothing anywhere.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadTorrent } from '../../src/cli/torrent-file.js';
import { type Encodable, encode } from '../../src/codec/index.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { Harness } from '../integration/harness.js';
import { cs } from './cli.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

const PIECE = 16384;
const ANNOUNCE = 'http://127.0.0.1:9/announce';

/** A sound single-file info dict of `length` bytes, with `over` replacing or adding keys. */
function info(
  over: Record<string, Encodable | undefined> = {},
  length = 3 * PIECE + 5,
): Record<string, Encodable | undefined> {
  return {
    name: 'notes.txt',
    'piece length': PIECE,
    pieces: randomBytes(20 * Math.ceil(length / PIECE)),
    length,
    ...over,
  };
}

function torrent(
  infoDict: Record<string, Encodable | undefined>,
  top: Record<string, Encodable> = {},
): Buffer {
  return encode({ announce: ANNOUNCE, info: infoDict, ...top });
}

/** Multi-file info whose one file has the path `path`. */
function multi(path: Encodable[], name: Encodable = 'course'): Record<string, Encodable | undefined> {
  return info(
    {
      name,
      length: undefined,
      files: [
        { path, length: 10 },
        { path: ['fine.txt'], length: 10 },
      ],
    },
    20,
  );
}

const ABS_TARGET = join(tmpdir(), `chunkswarm-hostile-abs-${randomBytes(6).toString('hex')}`);

interface Case {
  kind: string;
  name: string;
  bytes: Buffer;
  /** What the one stderr line must say, where that is fixed. */
  expect?: RegExp;
  /** Written as a file of this many bytes instead of `bytes`. */
  size?: number;
  /** Also run through all four commands as real processes (the rest go through loadTorrent in-process). */
  cli?: boolean;
}

function cases(): Case[] {
  const good = torrent(info());
  const unsafe = /unsafe path in torrent: /;
  const deepList = `${'l'.repeat(100_000)}${'e'.repeat(100_000)}`;
  return [
    { kind: 'malformed', cli: true, name: 'empty file', bytes: Buffer.alloc(0) },
    { kind: 'malformed', name: 'PNG bytes', bytes: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex') },
    { kind: 'malformed', name: 'a bencoded list', bytes: encode([1, 'two']) },
    { kind: 'malformed', name: 'no info', bytes: encode({ announce: ANNOUNCE }) },
    { kind: 'malformed', name: 'info is a string', bytes: encode({ announce: ANNOUNCE, info: 'x' }) },
    { kind: 'malformed', name: 'no pieces', bytes: torrent(info({ pieces: undefined })) },
    {
      kind: 'malformed',
      name: 'pieces not a multiple of 20',
      bytes: torrent(info({ pieces: randomBytes(61) })),
    },
    { kind: 'malformed', name: 'too few piece hashes', bytes: torrent(info({ pieces: randomBytes(40) })) },
    { kind: 'malformed', name: 'piece length 0', bytes: torrent(info({ 'piece length': 0 })) },
    { kind: 'malformed', name: 'piece length 3', bytes: torrent(info({ 'piece length': 3 })) },
    { kind: 'malformed', name: 'negative length', bytes: torrent(info({ length: -5 })) },
    {
      kind: 'malformed',
      name: 'length and files',
      bytes: torrent(info({ files: [{ path: ['a'], length: 1 }] })),
    },
    { kind: 'malformed', name: 'empty files list', bytes: torrent(info({ length: undefined, files: [] })) },
    {
      kind: 'malformed',
      name: 'integer with a leading zero',
      bytes: Buffer.from(
        good.toString('latin1').replace('12:piece lengthi16384e', '12:piece lengthi016384e'),
        'latin1',
      ),
    },
    { kind: 'malformed', name: 'trailing garbage', bytes: Buffer.concat([good, Buffer.from('junk')]) },
    ...[1, 11, Math.floor(good.length / 2), good.length - 1].map((n) => ({
      cli: n === 11,
      kind: 'truncated',
      name: `cut to ${n} of ${good.length} bytes`,
      bytes: good.subarray(0, n),
    })),
    { kind: 'nested', cli: true, name: '100000 nested lists', bytes: Buffer.from(`d4:info${deepList}e`) },
    {
      kind: 'nested',
      name: 'nesting inside info',
      bytes: Buffer.from(`d8:announce3:abc4:infod4:name${'l'.repeat(70)}${'e'.repeat(70)}ee`),
    },
    {
      kind: 'nested',
      name: '100000 nested dicts',
      bytes: Buffer.from(`${'d1:a'.repeat(100_000)}i1e${'e'.repeat(100_000)}`),
    },
    {
      kind: 'oversized',
      cli: true,
      name: 'a string that claims 1 TB',
      bytes: Buffer.from('d8:announce1000000000000:x'),
    },
    {
      kind: 'oversized',
      name: 'an integer of 400 digits',
      bytes: Buffer.from(`d4:infod6:lengthi${'9'.repeat(400)}e4:name1:a12:piece lengthi16384e6:pieces0:ee`),
    },
    { kind: 'oversized', name: 'a 1 EiB file', bytes: torrent(info({ length: 2n ** 60n })) },
    { kind: 'oversized', name: 'more pieces than allowed', bytes: torrent(info({ length: 2 ** 42 })) },
    { kind: 'oversized', name: 'piece length 1 GiB', bytes: torrent(info({ 'piece length': 2 ** 30 })) },
    {
      kind: 'unsafe path',
      cli: true,
      name: "'..' in a file path",
      bytes: torrent(multi(['..', '..', 'escaped.txt'])),
      expect: unsafe,
    },
    { kind: 'unsafe path', name: "'..' as the name", bytes: torrent(info({ name: '..' })), expect: unsafe },
    { kind: 'unsafe path', name: "'.' as the name", bytes: torrent(multi(['x.txt'], '.')), expect: unsafe },
    {
      kind: 'unsafe path',
      cli: true,
      name: 'an absolute name',
      bytes: torrent(info({ name: ABS_TARGET })),
      expect: unsafe,
    },
    {
      kind: 'unsafe path',
      name: 'a leading empty component',
      bytes: torrent(multi(['', 'etc', 'cron.d', 'x'])),
      expect: unsafe,
    },
    {
      kind: 'unsafe path',
      name: 'an empty middle component',
      bytes: torrent(multi(['a', '', 'b'])),
      expect: unsafe,
    },
    { kind: 'unsafe path', name: 'an empty name', bytes: torrent(info({ name: '' })), expect: unsafe },
    {
      kind: 'unsafe path',
      cli: true,
      name: 'NUL in a file name',
      bytes: torrent(multi(['notes\0.txt'])),
      expect: unsafe,
    },
    { kind: 'unsafe path', name: 'NUL in the name', bytes: torrent(info({ name: 'a\0b' })), expect: unsafe },
    {
      kind: 'unsafe path',
      name: 'a name with slashes',
      bytes: torrent(info({ name: '../../escaped.txt' })),
      expect: unsafe,
    },
    {
      kind: 'unsafe path',
      name: 'backslashes',
      bytes: torrent(multi(['..\\..\\escaped.txt'])),
      expect: unsafe,
    },
    {
      kind: 'unsafe path',
      name: 'a drive letter',
      bytes: torrent(multi(['C:', 'Windows', 'x'])),
      expect: unsafe,
    },
    {
      kind: 'unsafe path',
      name: "'..' in a UTF-8 path",
      bytes: torrent({ ...multi(['ok']), files: [{ path: ['ok'], 'path.utf-8': ['..', 'x'], length: 10 }] }),
      expect: unsafe,
    },
  ];
}

/** Every file and folder under `dir`, with sizes: what a command must not change. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    out.push(`${path} ${e.isDirectory() ? 'dir' : (await stat(path)).size}`);
  }
  return out.sort();
}

/** Runs `jobs` with at most `limit` at a time (each job spawns a process). */
async function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]!();
      }
    }),
  );
  return results;
}

/** Writes every hostile torrent (and a folder posing as one) under `dir`. */
async function writeAll(dir: string): Promise<{ c: Case; file: string }[]> {
  await mkdir(dir, { recursive: true });
  const all: Case[] = [
    ...cases(),
    // Refused from its size alone, before a byte is parsed.
    {
      kind: 'oversized',
      cli: true,
      name: '16 MiB + 1 byte',
      bytes: Buffer.alloc(0),
      size: 16 * 1024 * 1024 + 1,
    },
  ];
  const out: { c: Case; file: string }[] = [];
  for (const [i, c] of all.entries()) {
    const file = join(dir, `${i}.torrent`);
    await writeFile(
      file,
      c.size ? Buffer.concat([Buffer.from('d4:info'), Buffer.alloc(c.size - 7, 0x30)]) : c.bytes,
    );
    out.push({ c, file });
  }
  const folder = join(dir, 'folder.torrent');
  await mkdir(folder);
  out.push({ c: { kind: 'malformed', cli: true, name: 'a folder', bytes: Buffer.alloc(0) }, file: folder });
  return out;
}

/** The codes main.ts turns into exit 2 (bad input) rather than 1. */
const BAD_INPUT = /^(EUSAGE|EMETAINFO|EMETAINFO_SIZE|EUNSAFE_PATH|EBENCODE_\w+)$/;

test('every hostile torrent is refused as bad input with a one-line reason', async (t) => {
  const torrents = await writeAll(join(h.dir, 'all'));
  const perKind = new Map<string, number>();
  const problems: string[] = [];
  for (const { c, file } of torrents) {
    perKind.set(c.kind, (perKind.get(c.kind) ?? 0) + 1);
    const err = await loadTorrent(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    const where = `${c.kind} torrent (${c.name})`;
    if (!(err instanceof ChunkswarmError))
      problems.push(`${where}: ${err === undefined ? 'accepted' : String(err)}`);
    else if (!BAD_INPUT.test(err.code)) problems.push(`${where}: code ${err.code} would exit 1`);
    else if (err.message.includes('\n'))
      problems.push(`${where}: message spans lines: ${JSON.stringify(err.message)}`);
    else if (c.expect && !c.expect.test(err.message))
      problems.push(`${where}: says ${JSON.stringify(err.message)}, expected ${c.expect}`);
  }
  assert.deepEqual(problems, []);
  t.diagnostic(
    `hostile torrents: ${torrents.length} (${[...perKind].map(([k, n]) => `${k} ${n}`).join(', ')})`,
  );
});

test('info, seed, peer and download all exit 2 with one line and write nothing', async (t) => {
  const root = join(h.dir, 'cli');
  const torrents = (await writeAll(join(root, 'torrents'))).filter(({ c }) => c.cli);
  const data = join(root, 'notes.txt');
  await writeFile(data, randomBytes(3 * PIECE + 5));
  const before = await tree(h.dir);
  const out = join(root, 'out');
  const mem = join(root, 'memory');
  const commands: [string, string[]][] = [
    ['info', []],
    ['seed', ['--data', data, '--port', '0']],
    ['peer', ['--dir', mem, '--port', '0']],
    ['download', ['--out', out, '--port', '0']],
  ];
  const jobs = torrents.flatMap(({ c, file }) =>
    commands.map(([cmd, args]) => async () => {
      const p = cs(h, [cmd, file, ...args]);
      const code = await p.exited(30_000);
      return { c, cmd, code, stderr: p.stderr() };
    }),
  );
  const problems: string[] = [];
  for (const r of await pool(jobs, 4)) {
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    const where = `${r.cmd} on ${r.c.kind} torrent (${r.c.name})`;
    if (r.code !== 2) problems.push(`${where}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
    else if (lines.length !== 1 || !lines[0]!.startsWith('chunkswarm: '))
      problems.push(`${where}: stderr is not one line: ${JSON.stringify(r.stderr)}`);
    else if (/\n\s+at /.test(r.stderr) || /\.js:\d+/.test(r.stderr))
      problems.push(`${where}: stack trace: ${r.stderr}`);
    else if (r.c.expect && !r.c.expect.test(lines[0]!))
      problems.push(`${where}: says ${JSON.stringify(lines[0])}, expected ${r.c.expect}`);
  }
  assert.deepEqual(problems, []);
  // Nothing was written: not the output folders, not the escape targets, nothing anywhere in the test folder.
  assert.deepEqual(await tree(h.dir), before);
  assert.ok(!existsSync(out) && !existsSync(mem), 'an output folder was created for a refused torrent');
  assert.ok(!existsSync(ABS_TARGET), `${ABS_TARGET} was created`);
  t.diagnostic(`processes run: ${jobs.length} (${torrents.length} torrents x ${commands.length} commands)`);
});

test('with --debug the same refusal carries a stack trace (and only then)', async () => {
  const file = join(h.dir, 'debug.torrent');
  await writeFile(file, torrent(multi(['..', 'x'])));
  const plain = cs(h, ['info', file]);
  assert.equal(await plain.exited(), 2);
  const debug = cs(h, ['info', file, '--debug']);
  assert.equal(await debug.exited(), 2);
  assert.match(debug.stderr(), /unsafe path in torrent: [\s\S]*\n\s+at /);
  assert.doesNotMatch(plain.stderr(), /\n\s+at /);
});

test('harmless oddities pass: spaces, non-ASCII names and a zero-byte file', async () => {
  const file = join(h.dir, 'odd.torrent');
  const odd = info(
    {
      name: 'Vorlesung Ω 1',
      length: undefined,
      files: [
        { path: ['Übung 1', 'lösung .txt'], length: 20 },
        { path: ['leer'], length: 0 },
      ],
    },
    20,
  );
  await writeFile(file, torrent(odd));
  const p = cs(h, ['info', file, '--json']);
  assert.equal(await p.exited(), 0, p.output());
  const shown = JSON.parse(p.output()) as { name: string; files: { path: string }[] };
  assert.equal(shown.name, 'Vorlesung Ω 1');
  assert.deepEqual(
    shown.files.map((f) => f.path),
    ['Übung 1/lösung .txt', 'leer'],
  );
});
