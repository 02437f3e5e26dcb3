import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  boundaryPieces,
  filePieces,
  globMatcher,
  PiecePriority,
  parseSelect,
  pieceAtFileOffset,
  piecePriorities,
  resolveSelection,
  wantedPieces,
} from '../../src/metainfo/index.js';
import type { FileEntry, TorrentLayout } from '../../src/metainfo/types.js';
import { isChunkswarmError } from '../../src/shared/errors.js';

/** A layout of files with these paths and lengths, 10-byte pieces (hashes are not looked at). */
function layoutOf(files: [string, number][], pieceLength = 10): TorrentLayout {
  const entries: FileEntry[] = [];
  let offset = 0;
  for (const [path, length] of files) {
    entries.push({ path: path.split('/'), length, offset });
    offset += length;
  }
  const pieceCount = Math.ceil(offset / pieceLength);
  return {
    name: 'album',
    pieceLength,
    pieceCount,
    totalLength: offset,
    files: entries,
    multiFile: true,
    pieceHashes: Buffer.alloc(pieceCount * 20),
  };
}

// Bytes: a 0..25 | b 25..30 | empty | sub/c.mkv 30..55 | sub/x/d.nfo 55..58 | e.txt 58..70
// Pieces of 10: 0 [a] 1 [a] 2 [a b] 3 [c] 4 [c] 5 [c d e] 6 [e]
const album = layoutOf([
  ['a.mkv', 25],
  ['b.srt', 5],
  ['empty', 0],
  ['sub/c.mkv', 25],
  ['sub/x/d.nfo', 3],
  ['e.txt', 12],
]);

const usageError = (message: RegExp) => (e: unknown) =>
  isChunkswarmError(e, 'EUSAGE') && message.test(e.message);

describe('--select', () => {
  it('reads indices and inclusive ranges, with spaces', () => {
    assert.deepEqual([...parseSelect('0,2-4', 6)].sort(), [0, 2, 3, 4]);
    assert.deepEqual([...parseSelect(' 5 , 1 - 2,1', 6)].sort(), [1, 2, 5]);
    assert.deepEqual([...parseSelect('3-3', 6)], [3]);
  });

  it('refuses indices out of range, backwards ranges, junk and an empty spec in one line each', () => {
    assert.throws(
      () => parseSelect('0,6', 6),
      usageError(/^--select: file 6 does not exist: the torrent has 6 files \(0 to 5\)$/),
    );
    assert.throws(() => parseSelect('4-2', 6), usageError(/runs backwards/));
    assert.throws(() => parseSelect('1,x', 6), usageError(/'x' is not a file index/));
    assert.throws(() => parseSelect('-1', 6), usageError(/not a file index/));
    assert.throws(() => parseSelect('1-', 6), usageError(/not a file index/));
    assert.throws(() => parseSelect(' , ', 6), usageError(/empty/));
    assert.throws(() => parseSelect('0', 0), usageError(/does not exist/));
    for (const spec of ['0,6', '4-2', '1,x', ' , '])
      assert.throws(
        () => parseSelect(spec, 6),
        (e: unknown) => e instanceof Error && !e.message.includes('\n'),
      );
  });
});

describe('glob matching', () => {
  const cases: [string, string, boolean][] = [
    ['*.mkv', 'a.mkv', true],
    ['*.mkv', 'sub/c.mkv', true], // no slash in the glob: matched against the base name
    ['*.mkv', 'a.mkv.part', false],
    ['sub/*.mkv', 'sub/c.mkv', true],
    ['sub/*', 'sub/x/d.nfo', false], // `*` stops at a slash
    ['sub/**', 'sub/x/d.nfo', true],
    ['**/d.nfo', 'd.nfo', true], // `**/` may match no folder
    ['**/d.nfo', 'sub/x/d.nfo', true],
    ['sub/**/d.nfo', 'sub/d.nfo', true],
    ['sub/**/d.nfo', 'subx/d.nfo', false],
    ['?.txt', 'e.txt', true],
    ['?.txt', 'ee.txt', false],
    ['s?b/c.mkv', 'sub/c.mkv', true],
    ['s?b/c.mkv', 's/b/c.mkv', false], // `?` never matches a slash
    ['a.mkv', 'a.mkv', true],
    ['a.mkv', 'aXmkv', false], // a dot is a dot, not a regex wildcard
    ['(a|b)+.mkv', '(a|b)+.mkv', true], // regex syntax is literal
    ['(a|b)+.mkv', 'a.mkv', false],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'e.txt', false],
    ['[ab].mkv', 'a.mkv', false],
  ];
  for (const [glob, path, expected] of cases) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(globMatcher(glob)(path), expected);
    });
  }

  it('stays fast on patterns that make backtracking matchers explode', () => {
    const m = globMatcher(`${'*a'.repeat(200)}b`);
    assert.equal(m('a'.repeat(3000)), false);
    const g = globMatcher(`${'**/'.repeat(100)}x`);
    assert.equal(g(`${'a/'.repeat(1000)}y`), false);
  });

  it('agrees with a plain recursive reference matcher on random globs and paths', () => {
    // The reference: direct recursion over the same rules, fine for short inputs.
    const ref = (g: string, s: string): boolean => {
      if (g === '') return s === '';
      if (g.startsWith('**/'))
        return ref(g.slice(3), s) || [...s].some((c, i) => c === '/' && ref(g, s.slice(i + 1)));
      if (g.startsWith('**')) return [...Array(s.length + 1).keys()].some((i) => ref(g.slice(2), s.slice(i)));
      if (g[0] === '*') return ref(g.slice(1), s) || (s !== '' && s[0] !== '/' && ref(g, s.slice(1)));
      if (s === '') return false;
      if (g[0] === '?') return s[0] !== '/' && ref(g.slice(1), s.slice(1));
      return g[0] === s[0] && ref(g.slice(1), s.slice(1));
    };
    const alphabet = fc.constantFrom('a', 'b', '/', '*', '?');
    const pathChars = fc.constantFrom('a', 'b', '/');
    fc.assert(
      fc.property(
        fc.array(alphabet, { minLength: 1, maxLength: 8 }),
        fc.array(pathChars, { maxLength: 8 }),
        (gs, ps) => {
          const glob = gs.join('');
          const path = ps.join('');
          const subject = glob.includes('/') ? path : path.slice(path.lastIndexOf('/') + 1);
          // Three or more stars in a row mean the same as two.
          const norm = glob.replace(/\*{3,}/g, '**');
          assert.equal(globMatcher(glob)(path), ref(norm, subject), `${glob} on ${path}`);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
    );
  });

  it('refuses an empty pattern', () => {
    assert.throws(() => globMatcher(''), usageError(/needs a pattern/));
  });
});

describe('resolveSelection', () => {
  it('selects all files by default, less the excluded ones', () => {
    assert.deepEqual([...resolveSelection(album, {})].sort(), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual([...resolveSelection(album, { exclude: ['*.nfo', '*.srt'] })].sort(), [0, 2, 3, 5]);
    assert.deepEqual([...resolveSelection(album, { select: '0-3', exclude: ['sub/**'] })].sort(), [0, 1, 2]);
  });

  it('refuses a selection that leaves nothing, or only empty files', () => {
    assert.throws(() => resolveSelection(album, { exclude: ['**'] }), usageError(/selection is empty/));
    assert.throws(() => resolveSelection(album, { select: '2' }), usageError(/only empty files/));
  });
});

describe('pieces of a selection', () => {
  it("finds each file's piece range and the piece under a file offset", () => {
    assert.deepEqual(filePieces(album, 0), { first: 0, last: 2 });
    assert.deepEqual(filePieces(album, 1), { first: 2, last: 2 });
    assert.equal(filePieces(album, 2), undefined);
    assert.deepEqual(filePieces(album, 4), { first: 5, last: 5 });
    assert.equal(pieceAtFileOffset(album, 3, 0), 3);
    assert.equal(pieceAtFileOffset(album, 3, 24), 5);
    assert.equal(pieceAtFileOffset(album, 3, 999), 5);
  });

  it('wants the pieces under selected files and names those that cross into unselected ones', () => {
    const sel = new Set([1, 3]); // b.srt and sub/c.mkv
    assert.equal(wantedPieces(album, sel).toString(), '0011110');
    // piece 2 holds a.mkv bytes, piece 5 holds d.nfo and e.txt bytes: neither file is selected
    assert.deepEqual(boundaryPieces(album, sel), [2, 5]);
    assert.deepEqual(boundaryPieces(album, new Set([0, 1, 3, 4, 5])), []);
    assert.deepEqual(boundaryPieces(album, new Set([4])), [5]);
  });

  it('gives skip, normal and high priorities, with the edges of a streamed file high', () => {
    const sel = new Set([0, 1, 3]);
    const { skip, normal, high } = PiecePriority;
    assert.deepEqual(
      [...piecePriorities(album, sel)],
      [normal, normal, normal, normal, normal, normal, skip],
    );
    assert.deepEqual(
      [...piecePriorities(album, sel, { highFiles: new Set([1]), edgeFiles: new Set([0]) })],
      [high, normal, high, normal, normal, normal, skip],
    );
    // an edge file that is not selected raises nothing
    assert.deepEqual(
      [...piecePriorities(album, new Set([0]), { edgeFiles: new Set([5]) })],
      [normal, normal, normal, skip, skip, skip, skip],
    );
  });
});
