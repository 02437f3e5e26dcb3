import { ChunkswarmError } from '../shared/errors.js';

/** Most bytes in one file name on common file systems (ext4, APFS, NTFS in UTF-16 units is close). */
const MAX_NAME_BYTES = 255;

/** A path as it can go into a one-line message: control characters escaped, long paths cut. */
export function displayPath(components: readonly string[]): string {
  const joined = components.join('/');
  const cut = joined.length > 200 ? `${joined.slice(0, 200)}...` : joined;
  return cut.replace(/[\x00-\x1f\x7f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function why(component: string): string | undefined {
  if (component.length === 0) return 'empty component';
  if (component === '.' || component === '..') return `'${component}' component`;
  if (component.includes('/') || component.includes('\\')) return 'separator inside a component';
  if (component.includes('\0')) return 'NUL byte';
  // `C:` at the start would make the path absolute (or drive-relative) on Windows.
  if (/^[A-Za-z]:/.test(component)) return 'drive letter';
  if (Buffer.byteLength(component, 'utf8') > MAX_NAME_BYTES)
    return `name longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

/**
 * Refuses a path from a torrent that could land outside the download folder or that no file
 * system can hold: `..`, `.`, empty components (a leading one makes the path absolute),
 * separators or NUL inside a component, Windows drive letters, and names over 255 bytes.
 * Spaces, non-ASCII and other harmless oddities pass.
 */
export function checkSafePath(components: readonly string[]): void {
  if (components.length === 0) {
    throw new ChunkswarmError('EUNSAFE_PATH', 'unsafe path in torrent: (empty path)');
  }
  for (const component of components) {
    if (typeof component !== 'string') {
      throw new ChunkswarmError('EUNSAFE_PATH', 'unsafe path in torrent: a path component is not a string');
    }
    const reason = why(component);
    if (reason !== undefined) {
      throw new ChunkswarmError(
        'EUNSAFE_PATH',
        `unsafe path in torrent: ${displayPath(components)} (${reason})`,
      );
    }
  }
}
