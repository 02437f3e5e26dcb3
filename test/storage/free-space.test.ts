import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freeBytes } from '../../src/storage/index.js';

const enoent = (path: string) => Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });

describe('freeBytes', () => {
  it("asks the nearest parent that exists when the download's folder is not made yet", async () => {
    const asked: string[] = [];
    const free = await freeBytes('/data/downloads/new/big.bin', async (p) => {
      asked.push(p);
      if (p !== '/data') throw enoent(p);
      return { bavail: 3, bsize: 4096 };
    });
    assert.equal(free, 3 * 4096);
    assert.deepEqual(asked, [
      '/data/downloads/new/big.bin',
      '/data/downloads/new',
      '/data/downloads',
      '/data',
    ]);
  });

  it('cannot tell on any other error, nor when even the root is missing', async () => {
    const denied = Object.assign(new Error('EACCES'), { code: 'EACCES' });
    assert.equal(
      await freeBytes('/a/b', async () => {
        throw denied;
      }),
      undefined,
    );
    assert.equal(
      await freeBytes('/a/b', async (p) => {
        throw enoent(p);
      }),
      undefined,
    );
  });

  it('reads a real filesystem through a folder that does not exist yet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chunkswarm-free-'));
    try {
      const free = await freeBytes(join(dir, 'not', 'yet', 'file.bin'));
      assert.ok(free !== undefined && free > 0, `free ${free}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
