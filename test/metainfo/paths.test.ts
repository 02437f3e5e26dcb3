import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSafePath } from '../../src/metainfo/index.js';
import { ChunkswarmError } from '../../src/shared/errors.js';

function refused(components: string[]): void {
  assert.throws(
    () => checkSafePath(components),
    (e: unknown) => {
      assert.ok(e instanceof ChunkswarmError);
      assert.equal(e.code, 'EUNSAFE_PATH');
      assert.match(e.message, /^unsafe path in torrent: /);
      assert.ok(!/[\n\r\0]/.test(e.message), 'message is one printable line');
      return true;
    },
    JSON.stringify(components),
  );
}

test('refuses paths that leave the folder or no file system can hold', () => {
  refused([]);
  refused(['..']);
  refused(['a', '..', 'b']);
  refused(['.']);
  refused(['a', '.']);
  refused(['']);
  refused(['', 'etc', 'passwd']); // a leading empty component is an absolute path
  refused(['a', '']);
  refused(['/etc/passwd']);
  refused(['a/b']);
  refused(['..\\windows']);
  refused(['a\\b']);
  refused(['a\0b']);
  refused(['C:']);
  refused(['c:evil']);
  refused(['a:b']); // drive-relative on Windows
  refused(['C:\\Windows']);
  refused(['x'.repeat(256)]);
  refused(['é'.repeat(128)]); // 256 bytes in UTF-8 though only 128 characters
  refused(['ok', 'bad\nname/..']);
});

test('accepts harmless oddities', () => {
  checkSafePath(['a file with spaces.txt']);
  checkSafePath(['日本語', 'ファイル.txt']);
  checkSafePath(['..hidden', 'dots...', '...']);
  checkSafePath(['x'.repeat(255)]);
  checkSafePath(['é'.repeat(127)]);
  checkSafePath(['ab:c']); // a colon, but not after a single drive letter
  checkSafePath(['1:2']);
  checkSafePath(['.pad', '12345']);
});

test('the message shows the path with control characters escaped', () => {
  assert.throws(
    () => checkSafePath(['a\nb', '..']),
    (e: unknown) =>
      e instanceof ChunkswarmError && e.message.startsWith('unsafe path in torrent: a\\x0ab/..'),
  );
});
