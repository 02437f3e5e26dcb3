/**
 * What a results file says about the conditions of a measurement: which commit, whether the
 * checkout differed from it, and how busy the machine was. Pure functions; run.ts does the I/O.
 */

/** Highest 1-minute load average at which `--quiet-check` still measures. */
export const QUIET_LOAD_LIMIT = 1;

/**
 * The one-line refusal `--quiet-check` prints when the machine is busier than `limit` (1-minute
 * load average), or null when it may measure. Other work on the machine costs the clients unequally
 * (libtorrent's threads lose more to it than a single-threaded Node process), so a busy machine
 * can turn a ratio around: better no figure than a misleading one.
 */
export function quietCheckRefusal(load1m: number, limit: number = QUIET_LOAD_LIMIT): string | null {
  if (!Number.isFinite(load1m)) return 'bench: refusing to measure: the 1-minute load average is unknown';
  if (load1m <= limit) return null;
  return `bench: refusing to measure: 1-minute load ${load1m.toFixed(2)} is above ${limit} (--quiet-check); wait for the machine to go quiet`;
}

export interface TreeState {
  /** true when some tracked file differs from the commit, or an untracked file is present */
  dirty: boolean;
  /** the paths that differ, as `git status --porcelain` names them (first 20) */
  paths: string[];
}

/**
 * Reads `git status --porcelain` (v1): `XY path` per line, `XY old -> new` for a rename. Paths
 * under `ignore` (the results folder the bench writes itself) do not make the tree dirty.
 */
export function parseGitStatus(porcelain: string, ignore: readonly string[] = []): TreeState {
  const paths: string[] = [];
  for (const line of porcelain.split('\n')) {
    if (line.length < 4) continue;
    const rest = line.slice(3);
    const arrow = rest.indexOf(' -> ');
    const path = unquote(arrow >= 0 ? rest.slice(arrow + 4) : rest);
    if (ignore.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) continue;
    paths.push(path);
  }
  return { dirty: paths.length > 0, paths: paths.slice(0, 20) };
}

/** git quotes a path with unusual bytes in C style; keep the text between the quotes readable. */
function unquote(path: string): string {
  return path.length >= 2 && path.startsWith('"') && path.endsWith('"') ? path.slice(1, -1) : path;
}

/** A 1-minute load average rounded to hundredths, for the results file. */
export function roundLoad(load1m: number | undefined): number {
  return Math.round((load1m ?? 0) * 100) / 100;
}
