/**
 * Test content: reproducible from a seed, not compressible (so no layer can cheat by compressing),
 * and fast to make. An AES-128-CTR keystream keyed by the seed is all three: the same seed gives
 * the same bytes on every machine, and it runs at several GB/s.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const BLOCK = 1 << 20;

export function keystream(seed: number): (out: Buffer) => void {
  const key = createHash('sha256').update(`chunkswarm-bench-${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(BLOCK);
  return (out) => {
    let off = 0;
    while (off < out.length) {
      const n = Math.min(BLOCK, out.length - off);
      off += cipher.update(zeros.subarray(0, n)).copy(out, off);
    }
  };
}

/** Writes `bytes` of seeded pseudo-random content to `path` in 1 MiB blocks. */
export function writeSeededFile(path: string, bytes: number, seed: number): void {
  const fill = keystream(seed);
  const buf = Buffer.alloc(BLOCK);
  const fd = openSync(path, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const n = Math.min(BLOCK, left);
      const part = buf.subarray(0, n);
      fill(part);
      for (let off = 0; off < n; ) off += writeSync(fd, part, off, n - off);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

/** SHA-1 of a whole file as hex, read in 1 MiB blocks. */
export function sha1File(path: string): string {
  const h = createHash('sha1');
  const buf = Buffer.alloc(BLOCK);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, BLOCK, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** A scenario's source file, `<dir>/src/<name>`, of seeded content: its path and SHA-1. */
export function makeSource(
  dir: string,
  name: string,
  bytes: number,
  seed: number,
): { path: string; sha1: string } {
  const srcDir = join(dir, 'src');
  mkdirSync(srcDir, { recursive: true });
  const path = join(srcDir, name);
  writeSeededFile(path, bytes, seed);
  return { path, sha1: sha1File(path) };
}
