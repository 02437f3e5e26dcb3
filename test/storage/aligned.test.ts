import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { alignedBuffer, DIRECT_IO_ALIGN, directWritable } from '../../src/storage/aligned.js';
import { PieceHasher } from '../../src/storage/hasher.js';
import { directIoIn, tempDir } from './helpers.js';

describe('alignedBuffer', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(() => cleanup());

  it('hands out zeroed, separate buffers, each starting on a 4 KiB boundary of its memory', () => {
    const sizes = [1, 4096, 65_536, 1000, 1 << 20, 5 << 20];
    const bufs = sizes.map((n) => alignedBuffer(n));
    bufs.forEach((b, i) => {
      assert.equal(b.length, sizes[i]);
      assert.equal(b.byteOffset % DIRECT_IO_ALIGN, 0);
      assert.ok(b.every((x) => x === 0));
      b.fill(i + 1);
    });
    for (const [i, b] of bufs.entries())
      assert.ok(
        b.every((x) => x === i + 1),
        `buffer ${i} kept its bytes`,
      );
  });

  it('is shared memory the hashing workers read in place, at its offset in the slab', async () => {
    const hasher = new PieceHasher({ threads: 2, inlineBelow: 0, inlineBelowRate: 0 });
    try {
      const pieces = [65_536, 65_536, 100_000].map((n, i) => alignedBuffer(n).fill(i + 1));
      const hashes = await Promise.all(pieces.map((p) => hasher.sha1(p)));
      assert.deepEqual(
        hashes,
        pieces.map((p) => createHash('sha1').update(p).digest()),
      );
      assert.ok(pieces.every((p) => p.buffer instanceof SharedArrayBuffer));
    } finally {
      await hasher.close();
    }
  });

  it('tells which ranges may be written with O_DIRECT', () => {
    const b = alignedBuffer(3 * 4096);
    assert.equal(directWritable(b, 0, 8192, 1 << 20), true);
    assert.equal(directWritable(b, 4096, 4096, 0), true);
    assert.equal(directWritable(b, 512, 4096, 0), false, 'range not on a boundary');
    assert.equal(directWritable(b, 0, 4000, 0), false, 'length not whole blocks');
    assert.equal(directWritable(b, 0, 4096, 100), false, 'file offset not on a boundary');
    assert.equal(directWritable(Buffer.from(new SharedArrayBuffer(8192)), 0, 4096, 0), false, 'other memory');
  });

  it('is memory the kernel takes for an O_DIRECT write, and the same memory 16 bytes on is not', async (t) => {
    if (!(await directIoIn(dir))) {
      // Nothing to write with here (tmpfs before Linux 6.6, or not Linux): FileStorage's own tests cover the fallback.
      t.diagnostic(`${dir} takes no O_DIRECT: only the alignment above is checked`);
      return;
    }
    const h = await open(
      join(dir, 'direct.bin'),
      constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT,
    );
    try {
      const ours = alignedBuffer(1 << 20).fill(7);
      assert.equal((await h.write(ours, 0, ours.length, 0)).bytesWritten, ours.length);
      // 16 bytes further on, where Node's allocator puts a large buffer's first byte: refused.
      const shifted = alignedBuffer((1 << 20) + 4096).subarray(16, 16 + (1 << 20));
      await assert.rejects(h.write(shifted, 0, 1 << 20, 1 << 20), { code: 'EINVAL' });
    } finally {
      await h.close();
    }
  });
});
