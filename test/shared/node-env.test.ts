/**
 * The production network on loopback: dialled and accepted sockets both read into the one shared buffer
 * (`reused` chunks), bytes arrive whole and in order on several connections at once, and what comes
 * before a handler is attached is kept.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { ByteStream, Listener } from '../../src/shared/env.js';
import { nodeNetwork } from '../../src/shared/node-env.js';

/** Everything a stream receives, copied as it comes (a reused chunk is gone once the call returns). */
function collect(stream: ByteStream): { chunks: Buffer[]; reused: boolean[]; closed: Promise<string> } {
  const chunks: Buffer[] = [];
  const reused: boolean[] = [];
  let closed!: (reason: string) => void;
  const done = new Promise<string>((r) => {
    closed = r;
  });
  stream.attach({
    data: (chunk, isReused) => {
      chunks.push(Buffer.from(chunk));
      reused.push(isReused === true);
    },
    drain: () => {},
    close: (reason) => closed(reason),
  });
  return { chunks, reused, closed: done };
}

function pattern(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff;
  return out;
}

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

describe('nodeNetwork', () => {
  const listeners: Listener[] = [];
  after(() => {
    for (const l of listeners) l.close();
  });

  it('reads dialled and accepted sockets into the shared buffer, several connections at once, bytes intact', async () => {
    const accepted: ByteStream[] = [];
    const listener = await nodeNetwork.listen('127.0.0.1', 0, (s) => accepted.push(s));
    listeners.push(listener);
    const pairs = 3;
    const size = 3 * 1024 * 1024 + 17;
    const dialled = await Promise.all(
      Array.from({ length: pairs }, () => nodeNetwork.dial('127.0.0.1', listener.port, 5000)),
    );
    while (accepted.length < pairs) await new Promise((r) => setTimeout(r, 5));
    const outOf = dialled.map(collect);
    const inOf = accepted.map(collect);
    // Each side sends its own pattern in writes of odd sizes, all connections at the same time.
    const sent = (side: number, i: number): Buffer => pattern(side * 10 + i, size);
    dialled.forEach((s, i) => {
      const bytes = sent(0, i);
      for (let at = 0; at < bytes.length; at += 70_001) s.write(bytes.subarray(at, at + 70_001));
    });
    accepted.forEach((s, i) => {
      const bytes = sent(1, i);
      for (let at = 0; at < bytes.length; at += 50_003) s.write(bytes.subarray(at, at + 50_003));
    });
    const total = (c: { chunks: Buffer[] }): number => c.chunks.reduce((a, b) => a + b.length, 0);
    const deadline = Date.now() + 20_000;
    while ([...outOf, ...inOf].some((c) => total(c) < size) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    // Which accepted stream belongs to which dial is not known: match them by their bytes.
    const got = (c: { chunks: Buffer[] }): string => sha1(Buffer.concat(c.chunks));
    assert.deepEqual(
      inOf.map(got).sort(),
      dialled.map((_, i) => sha1(sent(0, i))).sort(),
      'every accepted socket got its dialler bytes',
    );
    assert.deepEqual(
      outOf.map(got).sort(),
      accepted.map((_, i) => sha1(sent(1, i))).sort(),
      'every dialled socket got its bytes',
    );
    for (const c of [...outOf, ...inOf])
      assert.ok(c.reused.every(Boolean), 'every read came through the shared buffer');
    for (const s of [...dialled, ...accepted]) s.close();
  });

  it('keeps what arrives before the handler is attached, and reports the other side closing', async () => {
    const accepted: ByteStream[] = [];
    const listener = await nodeNetwork.listen('127.0.0.1', 0, (s) => accepted.push(s));
    listeners.push(listener);
    const dialled = await nodeNetwork.dial('127.0.0.1', listener.port, 5000);
    const early = pattern(5, 100_000);
    const back = collect(dialled);
    dialled.write(early);
    while (accepted.length < 1) await new Promise((r) => setTimeout(r, 5));
    // The early bytes are read before anyone listens; then other reads fill the shared buffer again.
    await new Promise((r) => setTimeout(r, 100));
    const other = pattern(6, 200_000);
    accepted[0]!.write(other);
    const until = Date.now() + 5000;
    while (back.chunks.reduce((a, b) => a + b.length, 0) < other.length && Date.now() < until)
      await new Promise((r) => setTimeout(r, 5));
    const c = collect(accepted[0]!);
    const deadline = Date.now() + 5000;
    while (c.chunks.reduce((a, b) => a + b.length, 0) < early.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    assert.ok(Buffer.concat(c.chunks).equals(early), 'the early bytes, whole');
    dialled.close();
    assert.match(await c.closed, /closed/);
  });
});
