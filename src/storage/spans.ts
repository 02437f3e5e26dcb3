import type { FileSpan, TorrentLayout } from '../metainfo/types.js';
import { ChunkswarmError } from '../shared/errors.js';

/** Bytes in piece `index`: every piece is `pieceLength` long except a shorter last one (BEP 3). */
export function pieceLengthOf(layout: TorrentLayout, index: number): number {
  checkIndex(layout, index);
  if (index < layout.pieceCount - 1) return layout.pieceLength;
  return layout.totalLength - layout.pieceLength * (layout.pieceCount - 1);
}

export function checkIndex(layout: TorrentLayout, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= layout.pieceCount) {
    throw new ChunkswarmError(
      'ESTORAGE',
      `piece ${index} does not exist: the torrent has ${layout.pieceCount} pieces (0 to ${layout.pieceCount - 1})`,
    );
  }
}

/** Throws ESTORAGE unless `begin .. begin + length` lies inside piece `index`. */
export function checkRange(layout: TorrentLayout, index: number, begin: number, length: number): void {
  const size = pieceLengthOf(layout, index);
  if (
    !Number.isInteger(begin) ||
    !Number.isInteger(length) ||
    begin < 0 ||
    length < 0 ||
    begin + length > size
  ) {
    throw new ChunkswarmError(
      'ESTORAGE',
      `bytes ${begin}..${begin + length} are outside piece ${index}, which is ${size} bytes long`,
    );
  }
}

/**
 * Where the bytes `begin .. begin + length` of piece `index` live on disk, as runs within single
 * files, in piece order. A piece is a window on the concatenation of all files, so it may cross
 * file boundaries; zero-length files hold no bytes and never appear.
 */
export function spansOf(layout: TorrentLayout, index: number, begin = 0, length?: number): FileSpan[] {
  const len = length ?? pieceLengthOf(layout, index) - begin;
  checkRange(layout, index, begin, len);
  const start = index * layout.pieceLength + begin;
  const end = start + len;
  const spans: FileSpan[] = [];
  if (len === 0) return spans;
  const files = layout.files;
  // First file whose end lies past `start`: files are sorted by offset, so binary search.
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const f = files[mid]!;
    if (f.offset + f.length <= start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < files.length; i++) {
    const f = files[i]!;
    if (f.offset >= end) break;
    if (f.length === 0) continue;
    const from = Math.max(start, f.offset);
    const to = Math.min(end, f.offset + f.length);
    spans.push({
      fileIndex: i,
      fileOffset: from - f.offset,
      pieceOffset: from - start + begin,
      length: to - from,
    });
  }
  const covered = spans.reduce((n, s) => n + s.length, 0);
  if (covered !== len) {
    throw new ChunkswarmError(
      'ESTORAGE',
      `the torrent's file list does not cover bytes ${start}..${end} of its data (files and total length disagree)`,
    );
  }
  return spans;
}
