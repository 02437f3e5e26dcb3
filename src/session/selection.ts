/**
 * Which files of a torrent are being downloaded, changed while it runs (the shell's `/select`, the peer
 * page's checkboxes). The storage moves bytes a newly chosen file already has (out of the part file, see
 * FileStorage.setSelection) before the session is told to want its pieces, so a piece is never fetched
 * into a file that is not ready for it.
 */
import { filePathInTorrent, piecePriorities } from '../metainfo/index.js';
import type { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError } from '../shared/errors.js';
import type { FileStatus } from '../shared/status.js';
import type { TorrentSession } from './session.js';

export type { FileStatus } from '../shared/status.js';

/** A storage that keeps unselected files out of the way and can take files back in (FileStorage). */
export interface SelectableStorage {
  setSelection(files: ReadonlySet<number>, have: Bitfield): Promise<void>;
}

function isSelectable(s: unknown): s is SelectableStorage {
  return typeof (s as Partial<SelectableStorage>).setSelection === 'function';
}

/** How a selection was opened: its files, and those whose first and last piece come early (streaming). */
export interface InitialSelection {
  readonly files: ReadonlySet<number>;
  readonly edgeFiles?: ReadonlySet<number>;
}

const selections = new WeakMap<TorrentSession, FileSelection>();

export class FileSelection {
  readonly #s: TorrentSession;
  #files: ReadonlySet<number>;
  readonly #edge: ReadonlySet<number>;
  /** Changes run one after another: each waits for the storage before the session hears of it. */
  #queue: Promise<void> = Promise.resolve();

  private constructor(session: TorrentSession, initial: InitialSelection | undefined) {
    this.#s = session;
    this.#files = new Set(initial?.files ?? session.metainfo.files.map((_, i) => i));
    this.#edge = new Set(initial?.edgeFiles ?? []);
  }

  /** The session's selection: the one it was opened with (see `attach`), or every file. */
  static of(session: TorrentSession): FileSelection {
    let sel = selections.get(session);
    if (!sel) {
      sel = new FileSelection(session, undefined);
      selections.set(session, sel);
    }
    return sel;
  }

  /** Records the selection a session was opened with (its priorities are already the session's). */
  static attach(session: TorrentSession, initial: InitialSelection): FileSelection {
    const sel = new FileSelection(session, initial);
    selections.set(session, sel);
    return sel;
  }

  get files(): ReadonlySet<number> {
    return this.#files;
  }

  /**
   * Chooses `files` (at least one file with bytes, unless the torrent has none). The storage takes in the
   * files that join, then the picker stops wanting pieces only in files that left and starts on the new ones.
   */
  set(files: ReadonlySet<number>): Promise<void> {
    const s = this.#s;
    const m = s.metainfo;
    for (const i of files) filePathInTorrent(m, i); // a file that does not exist: the usual one line
    if (files.size === 0 || (m.totalLength > 0 && ![...files].some((i) => m.files[i]!.length > 0)))
      throw new ChunkswarmError('EUSAGE', 'the selection is empty: choose at least one file with bytes');
    const chosen = new Set(files);
    const run = async (): Promise<void> => {
      if (isSelectable(s.storage)) await s.storage.setSelection(chosen, s.have);
      this.#files = chosen;
      const edge = new Set([...this.#edge].filter((i) => chosen.has(i)));
      s.setPriorities(piecePriorities(m, chosen, { edgeFiles: edge }));
      // A download that went on seeding its files (`download --seed`) fetches the ones added.
      if (s.mode === 'seed' && !s.done) s.setMode('auto');
    };
    const next = this.#queue.then(run);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Every file with its size, whether it is chosen and how much of it is verified. */
  status(): FileStatus[] {
    return fileStatuses(this.#s.metainfo, this.#files, (i) => this.#s.have.has(i));
  }
}

/** Plain data of each file: pure, from the layout and the verified pieces. O(files + pieces). */
export function fileStatuses(
  m: TorrentSession['metainfo'],
  selected: ReadonlySet<number>,
  verified: (piece: number) => boolean,
): FileStatus[] {
  return m.files.map((f, index) => {
    let done = 0;
    if (f.length > 0) {
      const first = Math.floor(f.offset / m.pieceLength);
      const last = Math.floor((f.offset + f.length - 1) / m.pieceLength);
      for (let p = first; p <= last; p++) {
        if (!verified(p)) continue;
        const from = Math.max(f.offset, p * m.pieceLength);
        const to = Math.min(f.offset + f.length, (p + 1) * m.pieceLength);
        done += to - from;
      }
    }
    return { index, path: filePathInTorrent(m, index), size: f.length, selected: selected.has(index), done };
  });
}
