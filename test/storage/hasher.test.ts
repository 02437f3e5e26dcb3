import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { PieceHasher, pieceHash, verifyPiece } from '../../src/storage/index.js';
import { buildLayout, bytes, piece } from './helpers.js';

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();

describe('PieceHasher', () => {
  // inlineBelow and inlineBelowRate 0 send every input through the workers, which is what these tests are about.
  const hasher = new PieceHasher({ threads: 2, inlineBelow: 0, inlineBelowRate: 0 });
  after(() => hasher.close());

  it('gives the same digests as crypto.createHash, for many inputs at once', async () => {
    const inputs = [0, 1, 19, 20, 64, 4095, 4096, 16_384, 100_000, 1 << 20].map((n, i) => bytes(n, i));
    const digests = await Promise.all(inputs.map((b) => hasher.sha1(b)));
    for (const [i, d] of digests.entries()) assert.deepEqual(d, sha1(inputs[i]!));
  });

  it('hashes only the view of a Buffer that shares a larger ArrayBuffer, and leaves it usable', async () => {
    const big = bytes(50_000, 9);
    const view = big.subarray(1234, 31_234);
    const before = Buffer.from(view);
    assert.deepEqual(await hasher.sha1(view), sha1(before));
    assert.equal(view.length, 30_000);
    assert.deepEqual(view, before);
    // A Buffer that owns its memory is also left usable unless transfer is asked for.
    const own = bytes(70_000, 3);
    assert.deepEqual(await hasher.sha1(own), sha1(bytes(70_000, 3)));
    assert.equal(own.length, 70_000);
  });

  it('hashes a Buffer living in a SharedArrayBuffer in place', async () => {
    const shared = Buffer.from(new SharedArrayBuffer(40_000));
    shared.set(bytes(40_000, 5));
    const view = shared.subarray(100, 39_000);
    assert.deepEqual(await hasher.sha1(view), sha1(Buffer.from(view)));
  });

  it('with transfer, hands an owned buffer to the worker (the caller copy is detached)', async () => {
    const own = bytes(80_000, 4);
    const expected = sha1(own);
    assert.deepEqual(await hasher.sha1(own, { transfer: true }), expected);
    assert.equal(own.buffer.byteLength, 0);
  });

  it('hashes small inputs on the calling thread when asked to, with the same result', async () => {
    const h = new PieceHasher({ threads: 1 });
    try {
      const small = bytes(1000, 8);
      assert.deepEqual(await h.sha1(small), sha1(small));
    } finally {
      await h.close();
    }
  });

  it('hashes pieces up to 1 MiB on the calling thread while the rate is low, and starts workers above it', async () => {
    let now = 0;
    const h = new PieceHasher({ threads: 1, inlineBelowRate: 4 * 65_536, now: () => now });
    try {
      const piece = bytes(65_536, 4);
      // Three 64 KiB pieces in one second stay under 256 KiB/s: no worker is started.
      for (let i = 0; i < 3; i++) assert.deepEqual(await h.sha1(piece), sha1(piece));
      assert.equal(h.workersStarted, 0);
      assert.equal(h.inlined, 3);
      // The fourth reaches the rate: it goes to a worker, with the same digest.
      assert.deepEqual(await h.sha1(piece), sha1(piece));
      assert.equal(h.workersStarted, 1);
      // A new second starts a new count.
      now += 1000;
      assert.deepEqual(await h.sha1(piece), sha1(piece));
      assert.equal(h.inlined, 4);
      // A piece above 1 MiB never holds the calling thread, whatever the rate.
      now += 1000;
      const large = bytes(1024 * 1024 + 1, 6);
      const h2 = new PieceHasher({ threads: 1, inlineBelowRate: 1 << 30, now: () => now });
      try {
        assert.deepEqual(await h2.sha1(large), sha1(large));
        assert.equal(h2.inlined, 0);
        assert.equal(h2.workersStarted, 1);
      } finally {
        await h2.close();
      }
    } finally {
      await h.close();
    }
  });

  it('rejects work after close, and work still queued at close', async () => {
    const h = new PieceHasher({ threads: 1, inlineBelow: 0, inlineBelowRate: 0 });
    const queued = Promise.allSettled([1, 2, 3].map((i) => h.sha1(bytes(200_000, i))));
    await h.close();
    for (const r of await queued) {
      // One may have finished before close; then it must be whole.
      if (r.status === 'fulfilled') assert.equal(r.value.length, 20);
      else assert.ok(isChunkswarmError(r.reason, 'ESTORAGE'));
    }
    await assert.rejects(h.sha1(bytes(10, 1)), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
  });

  it('refuses a thread count below one', () => {
    assert.throws(
      () => new PieceHasher({ threads: 0 }),
      (e: unknown) => isChunkswarmError(e, 'EUSAGE'),
    );
  });

  it('never keeps a process alive once idle, even when not closed', () => {
    const hasherUrl = new URL('../../src/storage/hasher.ts', import.meta.url).href;
    const script = `
      import { PieceHasher } from ${JSON.stringify(hasherUrl)};
      const h = new PieceHasher({ threads: 2, inlineBelow: 0, inlineBelowRate: 0 });
      const d = await h.sha1(Buffer.alloc(100000, 7));
      console.log(d.toString('hex'));
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.signal, null, 'the child had to be killed: an idle worker kept it alive');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), sha1(Buffer.alloc(100000, 7)).toString('hex'));
  });
});

describe('verifyPiece and pieceHash', () => {
  const built = buildLayout('v', [{ path: ['v'], length: 40_000 }], 16_384, false);
  const { layout } = built;
  const hasher = new PieceHasher({ threads: 1, inlineBelow: 0, inlineBelowRate: 0 });
  after(() => hasher.close());

  it('returns the expected 20 bytes for each piece', () => {
    for (let i = 0; i < layout.pieceCount; i++) assert.deepEqual(pieceHash(layout, i), sha1(piece(built, i)));
    assert.throws(
      () => pieceHash(layout, 3),
      (e: unknown) => isChunkswarmError(e, 'ESTORAGE'),
    );
  });

  it('accepts the right bytes, with or without a hasher, including the short last piece', async () => {
    for (let i = 0; i < layout.pieceCount; i++) {
      assert.equal(await verifyPiece(layout, i, piece(built, i)), true);
      assert.equal(await verifyPiece(layout, i, piece(built, i), hasher), true);
    }
  });

  it('rejects altered bytes and wrong lengths', async () => {
    const bad = Buffer.from(piece(built, 1));
    bad[500]! ^= 1;
    assert.equal(await verifyPiece(layout, 1, bad), false);
    assert.equal(await verifyPiece(layout, 1, bad, hasher), false);
    assert.equal(await verifyPiece(layout, 2, piece(built, 1)), false);
    assert.equal(await verifyPiece(layout, 1, piece(built, 1).subarray(1)), false);
  });
});
