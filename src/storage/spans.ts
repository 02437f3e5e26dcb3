import { paddingIn, pieceSpans } from '../metainfo/layout.js';
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

/** Throws ESTORAGE unless `data` is exactly piece `index`'s length: storage writes whole pieces only. */
export function checkWholePiece(layout: TorrentLayout, index: number, data: Uint8Array): void {
  const size = pieceLengthOf(layout, index);
  if (data.length !== size) {
    throw new ChunkswarmError(
      'ESTORAGE',
      `piece ${index} is ${size} bytes, but ${data.length} were given to write`,
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
 * files, in piece order (metainfo's `pieceSpans`, with storage's error codes and a check that the
 * file list, with the torrent's padding, really covers the range). Padding has no span: see zeroPadding.
 */
export function spansOf(layout: TorrentLayout, index: number, begin = 0, length?: number): FileSpan[] {
  const len = length ?? pieceLengthOf(layout, index) - begin;
  checkRange(layout, index, begin, len);
  const spans = pieceSpans(layout, index, begin, len);
  const start = index * layout.pieceLength + begin;
  const covered = spans.reduce((n, s) => n + s.length, 0);
  if (covered !== len && covered + paddingIn(layout, start, start + len) !== len) {
    throw new ChunkswarmError(
      'ESTORAGE',
      `the torrent's file list does not cover bytes ${start}..${start + len} of its data (files and total length disagree)`,
    );
  }
  return spans;
}

/**
 * Zeros the bytes of `out` (bytes `begin ..` of a piece, read through `spans`) that no span covers: the
 * torrent's BEP 47 padding, which is all zeros and stored nowhere. Nothing to do for a torrent without it.
 */
export function zeroPadding(
  layout: TorrentLayout,
  out: Buffer,
  spans: readonly FileSpan[],
  begin: number,
): void {
  if (!layout.padding?.length) return;
  let at = 0;
  for (const s of spans) {
    const from = s.pieceOffset - begin;
    if (from > at) out.fill(0, at, from);
    at = from + s.length;
  }
  if (at < out.length) out.fill(0, at);
}
