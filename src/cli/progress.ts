import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import { formatBytes, formatDuration, formatRate, sourcesText } from './format.js';

/** One self-rewriting line on a TTY (hashing a file); silent into a pipe. */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #label: string;
  #last = 0;

  constructor(stream: NodeJS.WriteStream, label: string) {
    this.#stream = stream;
    this.#label = label;
  }

  update(done: number, total: number): void {
    if (!this.#stream.isTTY) return;
    const now = Date.now();
    if (now - this.#last < 100 && done < total) return;
    this.#last = now;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    this.#stream.write(`\r${this.#label} ${pct}% (${formatBytes(done)} of ${formatBytes(total)})\x1b[K`);
  }

  done(): void {
    if (this.#stream.isTTY) this.#stream.write('\r\x1b[K');
  }
}

export interface TorrentProgress {
  name: string;
  done: number;
  total: number;
  rate: number;
  upRate: number;
  peers: number;
  webSeeds?: number;
}

/**
 * One bar per torrent on a terminal (rate, peers, ETA); a plain line per torrent every few seconds
 * otherwise, so logs stay readable.
 */
export class ProgressBoard {
  readonly #tty: boolean;
  readonly #multi: CliProgress.MultiBar | undefined;
  readonly #bars = new Map<string, CliProgress.SingleBar>();
  #lastPlain = 0;

  constructor(stream: NodeJS.WriteStream = process.stdout) {
    this.#tty = Boolean(stream.isTTY);
    if (this.#tty) {
      // Loaded only for a terminal: into a pipe (scripts, logs, every process of a bench swarm) the bars
      // are never drawn, and the package cost each start about 20 ms of CPU.
      const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
      this.#multi = new cliProgress.MultiBar(
        {
          stream,
          format: ' {name} [{bar}] {percentage}% | {rate} ↓ {up} ↑ | {peers} | ETA {eta_text}',
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  get isTTY(): boolean {
    return this.#tty;
  }

  update(key: string, p: TorrentProgress): void {
    const eta = p.rate > 0 ? (p.total - p.done) / p.rate : Number.POSITIVE_INFINITY;
    const payload = {
      name: p.name.slice(0, 24),
      rate: formatRate(p.rate),
      up: formatRate(p.upRate),
      peers: sourcesText(p.peers, p.webSeeds ?? 0),
      eta_text: formatDuration(eta),
    };
    if (this.#multi) {
      let bar = this.#bars.get(key);
      if (!bar) {
        bar = this.#multi.create(p.total, p.done, payload);
        this.#bars.set(key, bar);
      }
      bar.update(p.done, payload);
    }
  }

  /** Plain progress lines for logs, at most every `everyMs`. */
  plain(lines: () => string[], everyMs = 5000): void {
    if (this.#tty) return;
    const now = Date.now();
    if (now - this.#lastPlain < everyMs) return;
    this.#lastPlain = now;
    for (const l of lines()) console.log(l);
  }

  /** Print a line above the bars. */
  log(line: string): void {
    if (this.#multi) this.#multi.log(`${line}\n`);
    else console.log(line);
  }

  stop(): void {
    this.#multi?.stop();
  }
}
