/** The printed table and bench/results/<date>.json. */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Row } from './context.js';

const HEADERS: Row = {
  figure: 'figure',
  chunkswarm: 'chunkswarm',
  reference: 'reference',
  ratio: 'ratio',
  target: 'target',
  verdict: '',
};
const COLUMNS: (keyof Row)[] = ['figure', 'chunkswarm', 'reference', 'ratio', 'target', 'verdict'];
const RIGHT = new Set<keyof Row>(['chunkswarm', 'reference', 'ratio']);

/** A plain-text table, numbers right-aligned: readable in a terminal and in a CI log alike. */
export function formatTable(rows: readonly Row[]): string {
  const all = [HEADERS, ...rows];
  const width = new Map<keyof Row, number>();
  for (const c of COLUMNS) width.set(c, Math.max(...all.map((r) => r[c].length)));
  const line = (r: Row) =>
    COLUMNS.map((c) => (RIGHT.has(c) ? r[c].padStart(width.get(c) ?? 0) : r[c].padEnd(width.get(c) ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = COLUMNS.map((c) => '-'.repeat(width.get(c) ?? 0))
    .join('  ')
    .trimEnd();
  return [line(HEADERS), rule, ...rows.map(line)].join('\n');
}

/** Local calendar date, YYYY-MM-DD, for the results file name. */
export function localDate(d: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export interface ResultsFile {
  date: string;
  updatedAt: string;
  machine: Record<string, unknown>;
  /**
   * Every commit the file's figures were measured on: one entry when all of them come from the
   * same code, more when a partial run (`--only`) refreshed some figures on a later commit.
   */
  commits: string[];
  /** per figure: what was measured, when, on which commit, with which options */
  figures: Record<string, unknown>;
  /** the rows of the last table printed for each figure */
  table: Record<string, Row[]>;
}

/**
 * Writes the figures of this run into the results file of the day. Figures not run this time keep
 * their earlier entries (each says when and on which commit it was measured), so `--only tracker`
 * refreshes one figure without erasing the others. Written to a temp file and renamed, so an
 * interrupted run never leaves half a file.
 */
export function writeResults(
  path: string,
  machine: Record<string, unknown>,
  figures: Record<string, unknown>,
  table: Record<string, Row[]>,
): ResultsFile {
  let previous: Partial<ResultsFile> = {};
  if (existsSync(path)) {
    try {
      previous = JSON.parse(readFileSync(path, 'utf8')) as Partial<ResultsFile>;
    } catch {
      previous = {};
    }
  }
  const now = new Date();
  const merged = { ...(previous.figures ?? {}), ...figures };
  const out: ResultsFile = {
    date: localDate(now),
    updatedAt: now.toISOString(),
    machine,
    commits: commitsOf(merged),
    figures: merged,
    table: { ...(previous.table ?? {}), ...table },
  };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`);
  renameSync(tmp, path);
  return out;
}

/** The distinct `commit` fields of the figures, in the order first met. */
export function commitsOf(figures: Record<string, unknown>): string[] {
  const seen = new Set<string>();
  for (const f of Object.values(figures)) {
    const c = typeof f === 'object' && f !== null ? (f as { commit?: unknown }).commit : undefined;
    if (typeof c === 'string') seen.add(c);
  }
  return [...seen];
}
