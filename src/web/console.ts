import type { TorrentSession } from '../session/session.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { parseCommand } from '../shell/parse.js';
import { Shell, type ShellOutput } from '../shell/shell.js';
import type { ConsoleLine } from './types.js';

/** The seed's commands that only look: safe to offer where the process was not started as a shell. */
export const READ_ONLY_COMMANDS: ReadonlySet<string> = new Set([
  '/help',
  '/status',
  '/check_tracker_connected',
  '/see_peer_set',
  '/see_connected_seeders',
  '/see_connected_leechers',
  '/see_current_chunks',
  '/check_target_peer_connected',
]);

/** Longest console line the page may send; every real command is far shorter. */
export const MAX_CONSOLE_LINE = 1024;

/**
 * Sits between a Shell and its output: every line still goes where it went (the terminal), and while
 * a page's command runs, its lines are also collected as the page's reply. Commands, from stdin or
 * from a page, run one at a time through `serial`, so a reply never holds another command's lines.
 */
export class ShellTap {
  readonly output: ShellOutput;
  #capture: ConsoleLine[] | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(inner: ShellOutput) {
    this.output = {
      line: (text, kind) => {
        inner.line(text, kind);
        this.#capture?.push(kind === undefined ? { text } : { text, kind });
      },
    };
  }

  /** Runs `fn` after every command queued before it. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Runs `fn` in turn and returns the lines it printed. */
  capture(fn: () => Promise<void>): Promise<ConsoleLine[]> {
    return this.serial(async () => {
      const lines: ConsoleLine[] = [];
      this.#capture = lines;
      try {
        await fn();
      } catch (err) {
        lines.push({ text: describeError(err), kind: 'error' });
      } finally {
        this.#capture = undefined;
      }
      return lines;
    });
  }
}

/** Runs one console line for a page and returns the reply. */
export type ConsoleRunner = (line: string) => Promise<ConsoleLine[]>;

/**
 * A console over a session the process does not run as a shell (download, seed): a Shell of its own
 * that accepts only READ_ONLY_COMMANDS, so a page can look but not steer.
 */
export function readOnlyConsole(session: TorrentSession, me: string): ConsoleRunner {
  let capture: ConsoleLine[] = [];
  const shell = new Shell({
    session,
    me,
    merge: undefined,
    chunkFileName: (i) => `${session.metainfo.name}.part${i}`,
    out: { line: (text, kind) => capture.push(kind === undefined ? { text } : { text, kind }) },
    quit: async () => {
      throw new ChunkswarmError('EUSAGE', '/quit_torrent is not available here');
    },
  });
  const tap = new ShellTap({ line: () => {} });
  return (line) =>
    tap.serial(async () => {
      capture = [];
      let name: string;
      try {
        name = parseCommand(line).name;
      } catch (err) {
        return [{ text: describeError(err), kind: 'error' }];
      }
      if (!READ_ONLY_COMMANDS.has(name)) {
        return [
          {
            text: `${name} changes things, so it runs only in \`chunkswarm peer\`; here the console can ${[...READ_ONLY_COMMANDS].join(' ')}`,
            kind: 'error',
          },
        ];
      }
      await shell.run(line);
      return capture;
    });
}
