import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ChunkswarmError } from '../shared/errors.js';

export function errnoCode(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

/**
 * Joins path components from a torrent below `root` and proves the result stays inside it. The
 * metainfo parser already refuses unsafe names; this is the second lock on the same door, because
 * a storage can be built from a layout that never went through the parser.
 */
export function safeJoin(root: string, components: readonly string[]): string {
  const base = resolve(root);
  for (const c of components) {
    if (c === '' || c === '.' || c === '..' || c.includes('/') || c.includes('\\') || c.includes('\0')) {
      throw unsafe(components);
    }
    // A drive letter ("C:") or a UNC-like start would make Windows resolve elsewhere.
    if (/^[a-zA-Z]:/.test(c)) throw unsafe(components);
  }
  if (components.length === 0) throw unsafe(components);
  const full = resolve(base, ...components);
  const rel = relative(base, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw unsafe(components);
  return full;
}

function unsafe(components: readonly string[]): ChunkswarmError {
  return new ChunkswarmError(
    'EUNSAFE_PATH',
    `unsafe path in torrent: ${JSON.stringify(components.join('/'))} would leave the download folder; refusing to use it`,
  );
}
