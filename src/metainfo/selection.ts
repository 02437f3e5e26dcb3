import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError } from '../shared/errors.js';
import { pieceSpans } from './layout.js';
import type { TorrentLayout } from './types.js';

/**
 * Which files of a torrent to download (`download --select 0,2-4`, `--exclude GLOB`), and what that
 * means for pieces. Pure: the storage, the picker and the CLI all work from what these return.
 */

/** Longest `--select` spec or `--exclude` glob accepted: both come from a command line or a web form. */
export const MAX_SELECTION_SPEC = 4096;

/** Per-piece download priority, as the picker takes it. */
export const PiecePriority = { skip: 0, normal: 1, high: 2 } as const;
export type PiecePriority = (typeof PiecePriority)[keyof typeof PiecePriority];

export interface SelectionSpec {
  /** `0,2-4`: file indices and inclusive ranges, as `info` numbers them. Absent: every file. */
  readonly select?: string | undefined;
  /** Globs over each file's path within the torrent; a matching file is left out. */
  readonly exclude?: readonly string[] | undefined;
}

function usage(message: string): ChunkswarmError {
  return new ChunkswarmError('EUSAGE', message);
}

/** The file's path within the torrent, `/`-separated: `sub/d.bin` (a single-file torrent: its name). */
export function filePathInTorrent(layout: TorrentLayout, fileIndex: number): string {
  const f = layout.files[fileIndex];
  if (!f) throw usage(`file ${fileIndex} does not exist: ${fileRange(layout.files.length)}`);
  return f.path.join('/');
}

function fileRange(count: number): string {
  return count === 1 ? 'the torrent has 1 file (0)' : `the torrent has ${count} files (0 to ${count - 1})`;
}

/**
 * Parses `--select`: comma-separated indices and inclusive ranges (`0,2-4`), spaces allowed around
 * each item. Every index must exist; a range must not run backwards.
 */
export function parseSelect(spec: string, fileCount: number): Set<number> {
  if (spec.length > MAX_SELECTION_SPEC)
    throw usage(`--select is longer than ${MAX_SELECTION_SPEC} characters`);
  const out = new Set<number>();
  const items = spec.split(',').map((s) => s.trim());
  if (items.every((s) => s === '')) throw usage('--select is empty: give file indices like 0,2-4');
  for (const item of items) {
    if (item === '') continue;
    const m = /^(\d{1,9})(?:\s*-\s*(\d{1,9}))?$/.exec(item);
    if (!m) throw usage(`--select: '${item}' is not a file index or a range like 2-4`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw usage(`--select: the range ${from}-${to} runs backwards`);
    if (to >= fileCount) throw usage(`--select: file ${to} does not exist: ${fileRange(fileCount)}`);
    for (let i = from; i <= to; i++) out.add(i);
  }
  return out;
}

type GlobToken =
  | { readonly kind: 'char'; readonly ch: string }
  | { readonly kind: 'any' } // `?`: one character, not `/`
  | { readonly kind: 'star' } // `*`: any run without `/`
  | { readonly kind: 'globstar' } // `**`: any run, `/` included
  | { readonly kind: 'dirs' }; // `**/`: nothing, or any run that ends in `/`

function tokenize(glob: string): GlobToken[] {
  const out: GlobToken[] = [];
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '\\' && i + 1 < glob.length) out.push({ kind: 'char', ch: glob[++i]! });
    else if (ch === '?') out.push({ kind: 'any' });
    else if (ch === '*') {
      if (glob[i + 1] === '*') {
        i++;
        while (glob[i + 1] === '*') i++;
        if (glob[i + 1] === '/') {
          i++;
          out.push({ kind: 'dirs' });
        } else out.push({ kind: 'globstar' });
      } else out.push({ kind: 'star' });
    } else out.push({ kind: 'char', ch });
  }
  return out;
}

/**
 * A matcher for a glob over `/`-separated paths: `*` any run of characters but `/`, `?` one such
 * character, `**` any run including `/` (`**` then `/` also matches no folder at all), `\x` a literal x.
 * Everything else is literal: nothing reaches a RegExp, so a glob cannot inject one or make it
 * backtrack. A glob without `/` is matched against the file's base name (as in .gitignore), one
 * with `/` against the whole path. Cost: O(glob × path) per match, by dynamic programming.
 */
export function globMatcher(glob: string): (path: string) => boolean {
  if (glob.length === 0) throw usage('--exclude needs a pattern, like *.nfo or extras/**');
  if (glob.length > MAX_SELECTION_SPEC)
    throw usage(`--exclude pattern is longer than ${MAX_SELECTION_SPEC} characters`);
  const tokens = tokenize(glob);
  const baseOnly = !glob.includes('/');
  return (path: string) => {
    const subject = baseOnly ? path.slice(path.lastIndexOf('/') + 1) : path;
    return matchTokens(tokens, subject);
  };
}

function matchTokens(tokens: readonly GlobToken[], s: string): boolean {
  const n = s.length;
  // prev[j]: the tokens so far match s[0..j).
  let prev = new Uint8Array(n + 1);
  prev[0] = 1;
  for (const t of tokens) {
    const next = new Uint8Array(n + 1);
    switch (t.kind) {
      case 'char':
      case 'any':
        for (let j = 1; j <= n; j++) {
          const c = s[j - 1]!;
          if (prev[j - 1] && (t.kind === 'char' ? c === t.ch : c !== '/')) next[j] = 1;
        }
        break;
      case 'star':
        for (let j = 0; j <= n; j++) {
          if (prev[j]) next[j] = 1;
          else if (j > 0 && next[j - 1] && s[j - 1] !== '/') next[j] = 1;
        }
        break;
      case 'globstar': {
        let seen = 0;
        for (let j = 0; j <= n; j++) {
          seen |= prev[j]!;
          next[j] = seen;
        }
        break;
      }
      case 'dirs': {
        let seen = 0;
        for (let j = 0; j <= n; j++) {
          if (prev[j]) next[j] = 1;
          if (j > 0 && s[j - 1] === '/' && seen) next[j] = 1;
          seen |= prev[j]!;
        }
        break;
      }
    }
    prev = next;
  }
  return prev[n] === 1;
}

/**
 * The selected file indices for `--select` and `--exclude` together: the files `select` names (all
 * when absent), less those any `exclude` glob matches. Refuses a selection that leaves no file with
 * bytes to download.
 */
export function resolveSelection(layout: TorrentLayout, spec: SelectionSpec): Set<number> {
  const count = layout.files.length;
  const chosen =
    spec.select === undefined
      ? new Set(Array.from({ length: count }, (_, i) => i))
      : parseSelect(spec.select, count);
  const matchers = (spec.exclude ?? []).map(globMatcher);
  if (matchers.length > 0) {
    for (const i of [...chosen]) {
      const path = filePathInTorrent(layout, i);
      if (matchers.some((m) => m(path))) chosen.delete(i);
    }
  }
  if (chosen.size === 0)
    throw usage('the selection is empty: --select and --exclude leave no file to download');
  if (layout.totalLength > 0 && ![...chosen].some((i) => layout.files[i]!.length > 0))
    throw usage('the selection holds only empty files: there is nothing to download');
  return chosen;
}

/** Inclusive piece range that holds a file's bytes; undefined for a zero-length file. */
export function filePieces(
  layout: TorrentLayout,
  fileIndex: number,
): { first: number; last: number } | undefined {
  const f = layout.files[fileIndex];
  if (!f) throw usage(`file ${fileIndex} does not exist: ${fileRange(layout.files.length)}`);
  if (f.length === 0) return undefined;
  return {
    first: Math.floor(f.offset / layout.pieceLength),
    last: Math.floor((f.offset + f.length - 1) / layout.pieceLength),
  };
}

/** The piece holding byte `fileOffset` of a file (clamped into the file). */
export function pieceAtFileOffset(layout: TorrentLayout, fileIndex: number, fileOffset: number): number {
  const f = layout.files[fileIndex];
  if (!f) throw usage(`file ${fileIndex} does not exist: ${fileRange(layout.files.length)}`);
  const at = Math.min(Math.max(0, Math.floor(fileOffset)), Math.max(0, f.length - 1));
  return Math.min(layout.pieceCount - 1, Math.floor((f.offset + at) / layout.pieceLength));
}

/** Pieces holding at least one byte of a selected file: the ones to download. */
export function wantedPieces(layout: TorrentLayout, selected: ReadonlySet<number>): Bitfield {
  const bits = new Bitfield(layout.pieceCount);
  for (const i of selected) {
    const r = filePieces(layout, i);
    if (!r) continue;
    for (let p = r.first; p <= r.last; p++) bits.set(p);
  }
  return bits;
}

/**
 * Wanted pieces that also hold bytes of an unselected file: their bytes in that file go to the part
 * file, since the file itself is never created. Ascending.
 */
export function boundaryPieces(layout: TorrentLayout, selected: ReadonlySet<number>): number[] {
  const out: number[] = [];
  const wanted = wantedPieces(layout, selected);
  const candidates = new Set<number>();
  for (const i of selected) {
    const r = filePieces(layout, i);
    if (r) candidates.add(r.first).add(r.last);
  }
  for (const p of [...candidates].sort((a, b) => a - b)) {
    if (!wanted.has(p)) continue;
    if (pieceSpans(layout, p).some((s) => !selected.has(s.fileIndex))) out.push(p);
  }
  return out;
}

/**
 * A priority per piece for `PiecePicker.setPriorities`: skip for pieces with no selected byte,
 * normal otherwise, high for the pieces of files in `highFiles` and for the first and last piece of
 * each file in `edgeFiles` (a streamed file: players read its header and often its end first).
 */
export function piecePriorities(
  layout: TorrentLayout,
  selected: ReadonlySet<number>,
  opts: { highFiles?: ReadonlySet<number>; edgeFiles?: ReadonlySet<number> } = {},
): Uint8Array {
  const out = new Uint8Array(layout.pieceCount);
  const raise = (p: number, level: PiecePriority) => {
    if (out[p]! < level) out[p] = level;
  };
  for (const i of selected) {
    const r = filePieces(layout, i);
    if (!r) continue;
    const level = opts.highFiles?.has(i) ? PiecePriority.high : PiecePriority.normal;
    for (let p = r.first; p <= r.last; p++) raise(p, level);
  }
  for (const i of opts.edgeFiles ?? []) {
    const r = filePieces(layout, i);
    if (!r || !selected.has(i)) continue;
    raise(r.first, PiecePriority.high);
    raise(r.last, PiecePriority.high);
  }
  return out;
}
