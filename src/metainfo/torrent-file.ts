import { type Encodable, encode } from '../codec/index.js';
import type { Metainfo } from './types.js';

/**
 * The bytes of a .torrent file for `m`: its trackers and comment around the exact `info` bytes it came
 * with (re-encoding a decoded info dictionary could change its bytes, and so its infohash). Pure.
 */
export function encodeTorrentFile(m: Metainfo): Buffer {
  const root = new Map<string, Encodable>();
  const tiers = m.announceList.filter((t) => t.length > 0);
  const announce = m.announce ?? tiers[0]?.[0];
  if (announce !== undefined) root.set('announce', announce);
  if (tiers.length > 1 || (tiers[0]?.length ?? 0) > 1) root.set('announce-list', tiers);
  if (m.comment !== undefined) root.set('comment', m.comment);
  if (m.createdBy !== undefined) root.set('created by', m.createdBy);
  if (m.creationDate !== undefined) root.set('creation date', m.creationDate);
  // Every key above sorts before "info", so the info bytes go last, just before the closing 'e'.
  const head = encode(root);
  return Buffer.concat([
    head.subarray(0, head.length - 1),
    Buffer.from('4:info'),
    m.infoBytes,
    Buffer.from('e'),
  ]);
}
