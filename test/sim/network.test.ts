/**
 * The simulator's network on the fake clock: order, bandwidth shared on an uplink and a downlink, latency,
 * backpressure and flow control, close, refused and timed-out dials, a killed host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/shared/clock.js';
import type { ByteStream, Network } from '../../src/shared/env.js';
import { SimNetwork } from '../../src/sim/network.js';

const KiB = 1024;

interface Received {
  chunks: Buffer[];
  bytes: number;
  /** Virtual time at which `bytes` reached each total. */
  at: [number, number][];
  closed: string | undefined;
  drains: number;
}

function record(stream: ByteStream, clock: FakeClock): Received {
  const r: Received = { chunks: [], bytes: 0, at: [], closed: undefined, drains: 0 };
  stream.attach({
    data: (c) => {
      r.chunks.push(c);
      r.bytes += c.length;
      r.at.push([clock.now(), r.bytes]);
    },
    drain: () => r.drains++,
    close: (reason) => {
      r.closed = reason;
    },
  });
  return r;
}

/** When the receiver first had `n` bytes. */
function timeOf(r: Received, n: number): number {
  const hit = r.at.find(([, total]) => total >= n);
  assert.ok(hit, `never received ${n} bytes (got ${r.bytes})`);
  return hit[0];
}

async function connect(
  clock: FakeClock,
  from: Network,
  to: Network,
  toAddress: string,
  port = 7000,
): Promise<{ client: ByteStream; server: ByteStream }> {
  let server: ByteStream | undefined;
  await to.listen(toAddress, port, (s) => {
    server = s;
  });
  const dialled = from.dial(toAddress, port, 10_000);
  await clock.advanceAsync(1000);
  const client = await dialled;
  assert.ok(server);
  return { client, server };
}

/** Two hosts with the same latency each way and no rate limits, a connection open between them. */
async function linked(
  latencyMs: number,
): Promise<{ clock: FakeClock; client: ByteStream; server: ByteStream }> {
  const clock = new FakeClock();
  const net = new SimNetwork(clock);
  const a = net.addHost('127.0.1.1', { latencyMs });
  const b = net.addHost('127.0.1.2', { latencyMs });
  return { clock, ...(await connect(clock, a, b, '127.0.1.2')) };
}

/** Host a with a 100 KiB/s uplink and a stream to each of b and c, their receiving ends recorded. */
async function twoStreamsOnOneUplink() {
  const clock = new FakeClock();
  const net = new SimNetwork(clock);
  const a = net.addHost('127.0.1.1', { up: 100 * KiB });
  const b = net.addHost('127.0.1.2');
  const c = net.addHost('127.0.1.3');
  const ab = await connect(clock, a, b, '127.0.1.2');
  const ac = await connect(clock, a, c, '127.0.1.3');
  return { clock, net, b, c, ab, ac, gb: record(ab.server, clock), gc: record(ac.server, clock) };
}

describe('SimNetwork', () => {
  it('delivers every write, in order: large ones by reference, runs of small ones gathered as one read', async () => {
    const clock = new FakeClock();
    const net = new SimNetwork(clock);
    const a = net.addHost('127.0.1.1', { up: 200 * KiB, latencyMs: 5 });
    const b = net.addHost('127.0.1.2', { down: 100 * KiB, latencyMs: 5 });
    const { client, server } = await connect(clock, a, b, '127.0.1.2');
    const got = record(server, clock);
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const buf = Buffer.alloc(1 + ((i * 977) % 5000), i & 255);
      sent.push(buf);
      client.write(buf);
    }
    await clock.advanceAsync(60_000);
    assert.deepEqual(Buffer.concat(got.chunks), Buffer.concat(sent));
    // Above 4 KiB a write arrives as the Buffer it was; smaller ones that travel together arrive as one chunk.
    let k = 0;
    for (const c of got.chunks) {
      if (sent[k]!.length > 4096) {
        assert.equal(c, sent[k], 'a large write is the same Buffer, not a copy');
        k++;
        continue;
      }
      let n = 0;
      while (n < c.length) {
        assert.ok(sent[k]!.length <= 4096, 'a large write gathered with others');
        n += sent[k++]!.length;
      }
      assert.equal(n, c.length, 'a chunk ends between two writes');
    }
    assert.equal(k, sent.length);
    assert.ok(got.chunks.length < sent.length, 'small writes sent together arrive together');
  });

  it('a small write alone in its chunk goes by reference when it is a view of a larger buffer, else as a copy', async () => {
    const { clock, client, server } = await linked(5);
    const got = record(server, clock);
    // A HAVE as PeerConnection encodes it: a slice of a larger buffer, as Node's pool hands them out.
    const slab = Buffer.alloc(64);
    const view = slab.subarray(16, 25);
    view.writeUInt32BE(5, 0);
    client.write(view);
    await clock.advanceAsync(100);
    // A buffer of its own, which for 64 bytes or less may live on V8's heap: copied.
    const own = Buffer.alloc(view.length);
    view.copy(own);
    client.write(own);
    await clock.advanceAsync(100);
    assert.equal(got.chunks.length, 2);
    assert.equal(got.chunks[0], view, 'the view itself');
    assert.notEqual(got.chunks[1], own, 'a copy');
    assert.deepEqual(got.chunks[1], own);
  });

  it('a write is acknowledged only once the other side has read it', async () => {
    const { clock, client, server } = await linked(50);
    const got = record(server, clock);
    let writtenAt: number | undefined;
    const start = clock.now();
    client.write(Buffer.alloc(100), () => {
      writtenAt = clock.now();
    });
    await clock.advanceAsync(500);
    // One-way latency is the sum of both hosts' shares.
    assert.equal(timeOf(got, 100) - start, 100);
    assert.equal(writtenAt! - start, 100);
  });

  it('shares an uplink fairly between its streams, and a downlink between its senders', async () => {
    const { clock, net, b, c, ab, ac, gb, gc } = await twoStreamsOnOneUplink();
    const start = clock.now();
    for (let i = 0; i < 20; i++) {
      ab.client.write(Buffer.alloc(10 * KiB));
      ac.client.write(Buffer.alloc(10 * KiB));
    }
    await clock.advanceAsync(10_000);
    // 400 KiB at 100 KiB/s: each stream gets half, so both end at about 4 s, not one at 2 s.
    for (const g of [gb, gc]) {
      const t = timeOf(g, 200 * KiB) - start;
      assert.ok(t >= 3800 && t <= 4200, `finished at ${t} ms`);
      assert.ok(timeOf(g, 100 * KiB) - start >= 1800, 'halfway at about 2 s');
    }

    // Two senders into one downlink of 100 KiB/s.
    const d = net.addHost('127.0.1.4', { down: 100 * KiB });
    const bd = await connect(clock, b, d, '127.0.1.4');
    const cd = await connect(clock, c, d, '127.0.1.4', 7001);
    const g1 = record(bd.server, clock);
    const g2 = record(cd.server, clock);
    const t0 = clock.now();
    bd.client.write(Buffer.alloc(150 * KiB));
    cd.client.write(Buffer.alloc(150 * KiB));
    await clock.advanceAsync(10_000);
    const last = Math.max(timeOf(g1, 150 * KiB), timeOf(g2, 150 * KiB)) - t0;
    assert.ok(last >= 2900 && last <= 3200, `300 KiB through 100 KiB/s took ${last} ms`);
  });

  it('a writer that refills its stream when told of room (drain) still gets only its share of the uplink', async () => {
    const { clock, ab: bulk, ac: refilled, gb: gBulk, gc: gRefilled } = await twoStreamsOnOneUplink();
    // As a connection that holds its blocks and hands the socket 20 KiB at a time, at once on each drain.
    let left = 400 * KiB;
    const refill = (): void => {
      for (let i = 0; i < 2 && left > 0; i++, left -= 10 * KiB) refilled.client.write(Buffer.alloc(10 * KiB));
    };
    refilled.client.attach({ data: () => {}, drain: refill, close: () => {} });
    const start = clock.now();
    for (let i = 0; i < 40; i++) bulk.client.write(Buffer.alloc(10 * KiB));
    refill();
    await clock.advanceAsync(3000);
    // 3 s of 100 KiB/s, half each: about 150 KiB apiece, not twice as much for the one that refills.
    const got = [gBulk.bytes, gRefilled.bytes];
    for (const n of got)
      assert.ok(n >= 130 * KiB && n <= 170 * KiB, `shares after 3 s: ${got} (from ${start})`);
  });

  it('sends a stream with only a few small messages queued ahead of the bulk streams on a busy uplink', async () => {
    const clock = new FakeClock();
    const net = new SimNetwork(clock);
    // 256 KiB/s up, 10 ms each way: a round of 16 KiB packets to four peers takes 250 ms.
    const a = net.addHost('127.0.1.1', { up: 256 * KiB, latencyMs: 5 });
    const bulk = [];
    for (let i = 2; i <= 5; i++) {
      const h = net.addHost(`127.0.1.${i}`, { latencyMs: 5 });
      const { client, server } = await connect(clock, a, h, `127.0.1.${i}`);
      record(server, clock);
      bulk.push(client);
    }
    const s = net.addHost('127.0.1.9', { latencyMs: 5 });
    const small = await connect(clock, a, s, '127.0.1.9');
    const got = record(small.server, clock);
    for (const c of bulk) for (let i = 0; i < 16; i++) c.write(Buffer.alloc(16 * KiB + 13));
    await clock.advanceAsync(100);
    const sent = clock.now();
    for (let i = 0; i < 8; i++) small.client.write(Buffer.alloc(17)); // eight REQUESTs
    await clock.advanceAsync(1000);
    const took = timeOf(got, 8 * 17) - sent;
    assert.ok(took <= 15, `the requests took ${took} ms behind 4 MiB of blocks`);
    assert.equal(got.chunks.length, 1, 'written together, read together');
  });

  it("a downlink serves packets in the order they reach it: a fast sender does not wait behind slow senders' packets still on the way", async () => {
    const clock = new FakeClock();
    const net = new SimNetwork(clock);
    const fast = net.addHost('127.0.2.1', { up: 8192 * KiB, latencyMs: 5 });
    const r = net.addHost('127.0.2.2', { down: 8192 * KiB, latencyMs: 5 });
    const sink = net.addHost('127.0.2.3', { latencyMs: 5 });
    // Four slow uplinks (256 KiB/s) each feeding three other peers and then the receiver: each round puts
    // 64 KiB on the way over 250 ms, the receiver's packet last.
    const slowStreams: ByteStream[] = [];
    for (let i = 0; i < 4; i++) {
      const slow = net.addHost(`127.0.3.${i + 1}`, { up: 256 * KiB, latencyMs: 5 });
      for (let k = 0; k < 3; k++) {
        const { client, server } = await connect(clock, slow, sink, '127.0.2.3', 7100 + i * 4 + k);
        record(server, clock);
        slowStreams.push(client);
      }
      const toR = await connect(clock, slow, r, '127.0.2.2', 7100 + i * 4 + 3);
      record(toR.server, clock);
      slowStreams.push(toR.client);
    }
    const main = await connect(clock, fast, r, '127.0.2.2', 7001);
    const got = record(main.server, clock);
    for (const c of slowStreams) for (let i = 0; i < 64; i++) c.write(Buffer.alloc(16 * KiB + 13));
    await clock.advanceAsync(600);
    const start = clock.now();
    for (let i = 0; i < 128; i++) main.client.write(Buffer.alloc(16 * KiB + 13));
    await clock.advanceAsync(5000);
    // 2 MiB at 8 MiB/s is 250 ms, and the slow senders' 256 KiB/s into the downlink takes little from it.
    // Queued behind their packets not yet arrived, its 256 KiB window waited a round, hundreds of ms.
    const took = timeOf(got, 128 * (16 * KiB + 13)) - start;
    assert.ok(took <= 400, `2 MiB took ${took} ms through an 8 MiB/s downlink carrying 256 KiB/s besides`);
  });

  it('queues writes (pendingBytes), says drain once they left, and stops at the window while the reader is paused', async () => {
    const clock = new FakeClock();
    const net = new SimNetwork(clock, { windowBytes: 64 * KiB });
    const a = net.addHost('127.0.1.1', { up: 64 * KiB });
    const b = net.addHost('127.0.1.2');
    const { client, server } = await connect(clock, a, b, '127.0.1.2');
    const sender = record(client, clock);
    const got = record(server, clock);
    server.pause();
    for (let i = 0; i < 32; i++) client.write(Buffer.alloc(16 * KiB));
    assert.equal(client.pendingBytes, 512 * KiB);
    await clock.advanceAsync(5000);
    // Paused: only a window's worth left the sender, and none was read.
    assert.equal(got.bytes, 0);
    assert.equal(client.pendingBytes, 512 * KiB - 64 * KiB);
    assert.equal(sender.drains, 0);
    server.resume();
    await clock.advanceAsync(20_000);
    assert.equal(got.bytes, 512 * KiB);
    assert.equal(client.pendingBytes, 0);
    assert.equal(sender.drains, 1);
  });

  it('a close reaches the other side after what was written before it, after the latency', async () => {
    const { clock, client, server } = await linked(20);
    const mine = record(client, clock);
    const got = record(server, clock);
    client.write(Buffer.from('last words'));
    client.close();
    const closedAt = clock.now();
    await clock.advanceAsync(39);
    assert.equal(got.closed, undefined);
    await clock.advanceAsync(1);
    assert.equal(Buffer.concat(got.chunks).toString(), 'last words');
    assert.equal(got.closed, 'peer closed the connection');
    assert.equal(clock.now() - closedAt, 40);
    // The side that closed is not told; writes after the close go nowhere.
    assert.equal(mine.closed, undefined);
    server.write(Buffer.from('too late'));
    await clock.advanceAsync(1000);
    assert.equal(mine.bytes, 0);
  });

  it('refuses a dial to a port nobody listens on, and times out one to a dead or unknown host', async () => {
    const clock = new FakeClock();
    const net = new SimNetwork(clock);
    const a = net.addHost('127.0.1.1', { latencyMs: 10 });
    net.addHost('127.0.1.2', { latencyMs: 10 });
    const outcome = (p: Promise<ByteStream>) =>
      p.then(
        () => ({ ok: true, at: clock.now(), why: '' }),
        (e: Error) => ({ ok: false, at: clock.now(), why: e.message }),
      );
    const refused = outcome(a.dial('127.0.1.2', 9999, 5000));
    const unknown = outcome(a.dial('127.0.9.9', 6881, 5000));
    net.kill('127.0.1.2');
    const dead = outcome(a.dial('127.0.1.2', 9999, 3000));
    await clock.advanceAsync(10_000);
    assert.deepEqual(await unknown, { ok: false, at: 5000, why: 'timed out' });
    assert.deepEqual(await dead, { ok: false, at: 3000, why: 'timed out' });
    // Its SYN reached the host after the kill: no answer at all, not a refusal.
    assert.deepEqual(await refused, { ok: false, at: 5000, why: 'timed out' });

    const c = net.addHost('127.0.1.3', { latencyMs: 10 });
    const t0 = clock.now();
    const refusedNow = outcome(c.dial('127.0.1.1', 9999, 5000));
    await clock.advanceAsync(1000);
    assert.deepEqual(await refusedNow, { ok: false, at: t0 + 40, why: 'connection refused' });
  });

  it('a killed host goes silent, or resets its streams', async () => {
    const clock = new FakeClock();
    const net = new SimNetwork(clock);
    const a = net.addHost('127.0.1.1', { latencyMs: 5 });
    const b = net.addHost('127.0.1.2', { latencyMs: 5 });
    const c = net.addHost('127.0.1.3', { latencyMs: 5 });
    const ab = await connect(clock, a, b, '127.0.1.2');
    const cb = await connect(clock, c, b, '127.0.1.2', 7001);
    const fromB = record(ab.client, clock);
    record(ab.server, clock);
    const fromB2 = record(cb.client, clock);
    net.kill('127.0.1.2', 'silent');
    ab.client.write(Buffer.alloc(1000));
    await clock.advanceAsync(60_000);
    assert.equal(fromB.closed, undefined, 'silence: no close, no data');
    assert.equal(fromB2.closed, undefined);

    net.addHost('127.0.1.2', { latencyMs: 5 });
    const d = net.addHost('127.0.1.4', { latencyMs: 5 });
    const e = net.addHost('127.0.1.5', { latencyMs: 5 });
    const de = await connect(clock, d, e, '127.0.1.5');
    const fromE = record(de.client, clock);
    net.kill('127.0.1.5', 'reset');
    await clock.advanceAsync(100);
    assert.equal(fromE.closed, 'connection reset by peer');
  });
});
