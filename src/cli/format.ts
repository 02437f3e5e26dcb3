import pc from 'picocolors';
import { ChunkswarmError } from '../shared/errors.js';

export interface Colors {
  readonly enabled: boolean;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
  cyan(s: string): string;
}

/**
 * Colour only for a terminal, and never with NO_COLOR. picocolors alone would switch colour on whenever
 * CI is set, even into a pipe, so we decide and hand it the answer.
 */
export function createColors(isTTY: boolean | undefined, env: NodeJS.ProcessEnv = process.env): Colors {
  const enabled = Boolean(isTTY) && !('NO_COLOR' in env);
  const c = pc.createColors(enabled);
  return { enabled, green: c.green, red: c.red, yellow: c.yellow, dim: c.dim, bold: c.bold, cyan: c.cyan };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export { countOf, sourcesText } from '../shared/plural.js';

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `--upload-limit 8MiB` → 8388608. Plain numbers are bytes per second; 0 means no limit. */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|K|M|G|KB|MB|GB)?(?:\/s)?$/i.exec(text.trim());
  if (!m)
    throw new ChunkswarmError(
      'EUSAGE',
      `not a rate: ${text} (write bytes per second, e.g. 500000, 512KiB, 8MiB)`,
    );
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult = unit.startsWith('g')
    ? 1 << 30
    : unit.startsWith('m')
      ? 1 << 20
      : unit.startsWith('k')
        ? 1024
        : 1;
  return Math.round(Number(m[1]) * mult);
}

export function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535)
    throw new ChunkswarmError('EUSAGE', `not a port: ${text}`);
  return Number(text);
}

export function parsePositiveInt(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0)
    throw new ChunkswarmError('EUSAGE', `${what} must be a positive whole number, got ${text}`);
  return Number(text);
}

/** `HOST:PORT`, `[v6]:PORT`, or a bare `PORT` (loopback). */
export function parseWebAddress(text: string): { host: string; port: number } {
  const m =
    /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim()) ??
    /^()()(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new ChunkswarmError('EUSAGE', `--web wants HOST:PORT (for example 127.0.0.1:8080), not "${text}"`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/** `HOST:PORT` or `[v6]:PORT` of a DHT node (`--bootstrap`): both parts required, port 1 to 65535. */
export function parseNodeAddress(text: string, flag = '--bootstrap'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port < 1 || port > 65535) {
    throw new ChunkswarmError(
      'EUSAGE',
      `${flag} wants HOST:PORT (for example 127.0.0.1:6881), not "${text}"`,
    );
  }
  return { host: m[1] || m[2]!, port };
}

/** What a process moved for one torrent, printed as it stops: shows who fed whom in a swarm. */
export function totalsLine(
  name: string,
  t: { readonly downloaded: number; readonly uploaded: number; readonly hashFailures: number },
): string {
  return `totals ${name}: downloaded ${t.downloaded} B, uploaded ${t.uploaded} B, ${t.hashFailures} hash failures`;
}
