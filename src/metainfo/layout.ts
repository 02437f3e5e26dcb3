import { ChunkswarmError } from '../shared/errors.js';
import type { FileSpan, TorrentLayout } from './types.js';

function checkIndex(layout: TorrentLayout, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= layout.pieceCount) {
    throw new ChunkswarmError(
      'EMETAINFO',
      `piece ${index} does not exist: the torrent has ${layout.pieceCount} pieces (0 to ${layout.pieceCount - 1})`,
    );
  }
}

/** Bytes in piece `index`: `pieceLength`, except the last piece, which holds what is left (BEP 3). */
export function pieceSize(layout: TorrentLayout, index: number): number {
  checkIndex(layout, index);
  if (index < layout.pieceCount - 1) return layout.pieceLength;
  return layout.totalLength - layout.pieceLength * (layout.pieceCount - 1);
}

/**
 * The runs of piece `index` (or of its bytes `begin .. begin + length`) inside single files, in
 * order. Pieces are windows on the concatenation of all files, so one piece may cross several
 * files; zero-length files hold no bytes and never appear. `pieceOffset` counts from the start
 * of the piece, not of the sub-range.
 */
export function pieceSpans(layout: TorrentLayout, index: number, begin = 0, length?: number): FileSpan[] {
  const size = pieceSize(layout, index);
  const len = length ?? size - begin;
  if (!Number.isInteger(begin) || !Number.isInteger(len) || begin < 0 || len < 0 || begin + len > size) {
    throw new ChunkswarmError(
      'EMETAINFO',
      `bytes ${begin}..${begin + len} are outside piece ${index}, which is ${size} bytes long`,
    );
  }
  const spans: FileSpan[] = [];
  if (len === 0) return spans;
  const start = index * layout.pieceLength + begin;
  const end = start + len;
  const files = layout.files;
  // Files are sorted by offset and their ends never decrease: binary search for the first file
  // that ends past `start` (a zero-length file at `start` ends there, so it is passed over).
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
  return spans;
}

/** Bytes of BEP 47 padding within the torrent's bytes `start .. end`. */
export function paddingIn(layout: TorrentLayout, start: number, end: number): number {
  let n = 0;
  for (const pad of layout.padding ?? []) {
    if (pad.offset >= end) break;
    n += Math.max(0, Math.min(end, pad.offset + pad.length) - Math.max(start, pad.offset));
  }
  return n;
}

/** Bytes of the torrent's files: its total less the BEP 47 padding, which no file holds. */
export function dataLength(layout: TorrentLayout): number {
  return layout.totalLength - paddingIn(layout, 0, layout.totalLength);
}

/** Bytes of BEP 47 padding inside the pieces that `held` says we have. */
export function paddingHeld(layout: TorrentLayout, held: (index: number) => boolean): number {
  let n = 0;
  for (const pad of layout.padding ?? []) {
    const end = pad.offset + pad.length;
    for (let i = Math.floor(pad.offset / layout.pieceLength); i * layout.pieceLength < end; i++) {
      if (!held(i)) continue;
      const start = i * layout.pieceLength;
      n += Math.min(end, start + layout.pieceLength) - Math.max(pad.offset, start);
    }
  }
  return n;
}
