/**
 * Hostile peers against a real `chunkswarm seed` (issue 7): scripted clients that break the wire protocol
 * in one way each are dropped, while an honest `chunkswarm download` from the same seeder, running at the
 * same time, completes byte-identical. Anything that is not a BitTorrent handshake is closed at once and
 * not held against the address (aria2 retries in plain after its encrypted attempt).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { Metainfo } from '../../src/metainfo/types.js';
import { encodeMessage, type WireMessage } from '../../src/wire/index.js';
import { freePort, Harness, makeFile, sameBytes } from '../integration/harness.js';
import { type CliProc, createTorrent, cs, startSeed, startTracker } from './cli.js';
import { closeAll, loadMetainfo, ScriptedPeer } from './scripted-peer.js';

const h = new Harness();
let m: Metainfo;
let seedPort = 0;
let seed: CliProc;
let torrent = '';
let data = '';

/** How many hostile inputs of each kind were sent, for the report. */
const tried = new Map<string, number>();
const count = (kind: string, n = 1): void => {
  tried.set(kind, (tried.get(kind) ?? 0) + n);
};

before(async () => {
  await h.setup();
  data = join(h.dir, 'lecture.bin');
  await makeFile(data, 4 * 1024 * 1024 + 4321, 'hostile-seed');
  const announce = await startTracker(h);
  torrent = join(h.dir, 'lecture.torrent');
  await createTorrent(h, data, announce, torrent);
  m = await loadMetainfo(torrent);
  // Rate-limited so the honest download is still running while the hostile peers do their worst.
  ({ proc: seed, port: seedPort } = await startSeed(h, torrent, data, ['--upload-limit', '512KiB']));
});

afterEach(closeAll);
after(() => h.teardown());

const dial = (localPort?: number): Promise<ScriptedPeer> =>
  ScriptedPeer.dial(seedPort, { pieceCount: m.pieceCount, localPort });

/** `dial` from `localPort` again, a few times while the last connection from it is still closing. */
async function redial(localPort: number): Promise<ScriptedPeer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await dial(localPort);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL' || attempt === 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A scripted peer that has done a proper handshake (fast + extended) and seen the seed's answer. */
async function handshaken(opts: { fast?: boolean; listenPort?: number } = {}): Promise<ScriptedPeer> {
  const p = await dial();
  p.handshake({ infoHash: m.infoHash, fast: opts.fast ?? true, listenPort: opts.listenPort });
  await p.waitHandshake();
  return p;
}

/** The seed must hang up on `p`: well before the 10 s handshake timer could be what closed it. */
async function dropped(p: ScriptedPeer, what: string): Promise<void> {
  await p.waitClosed(`the seed did not drop a peer that ${what}`, 5000);
}

/** The seed is still up for a well-behaved peer: handshake, HAVE ALL, unchoke on interest, one block served. */
async function stillServes(): Promise<void> {
  const p = await handshaken();
  await p.waitMessage((x) => x.type === 'have-all', 'HAVE ALL from the seed');
  p.send({ type: 'interested' });
  await p.waitMessage((x) => x.type === 'unchoke', 'unchoke');
  p.send({ type: 'request', index: 1, begin: 16384, length: 16384 });
  const piece = await p.waitMessage((x) => x.type === 'piece', 'the block we asked for');
  assert.ok(piece.type === 'piece');
  const at = m.pieceLength + 16384;
  assert.ok(
    piece.block.equals((await readFile(data)).subarray(at, at + 16384)),
    'the seed served wrong bytes',
  );
  p.close();
}

function frame(length: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 0);
  head[4] = id;
  return Buffer.concat([head, payload]);
}

/** Each case: what the peer does after a proper handshake; the seed must drop it. */
function protocolCases(): [kind: string, what: string, act: (p: ScriptedPeer) => void][] {
  const n = m.pieceCount;
  const last = n - 1;
  const lastSize = m.totalLength - last * m.pieceLength;
  const msg = (x: WireMessage): Buffer => encodeMessage(x);
  const badBits = Buffer.alloc(Math.ceil(n / 8), 0xff); // spare bits past the last piece set
  return [
    ['oversized', 'announced a 2 GiB message', (p) => p.write(frame(0x7fff_ffff, 7))],
    ['oversized', 'announced a 4 GiB message', (p) => p.write(frame(0xffff_ffff, 20))],
    ['oversized', 'sent a 32 KiB block', (p) => p.write(frame(9 + 32768, 7, Buffer.alloc(8)))],
    [
      'oversized',
      'sent a 1 MiB + 1 extension message',
      (p) => p.write(frame(2 + 1024 * 1024, 20, Buffer.from([3]))),
    ],
    ['oversized', 'sent a 2 MiB message of unknown id', (p) => p.write(frame(2 * 1024 * 1024, 99))],
    [
      'oversized',
      'sent a bitfield one byte too long',
      (p) => p.write(frame(2 + Math.ceil(n / 8), 5, Buffer.alloc(1 + Math.ceil(n / 8)))),
    ],
    ['malformed', 'sent a 5-byte HAVE', (p) => p.write(frame(6, 4, Buffer.alloc(5)))],
    ['malformed', 'sent a CHOKE with a payload', (p) => p.write(frame(2, 0, Buffer.alloc(1)))],
    ['malformed', 'sent a 13-byte REQUEST', (p) => p.write(frame(14, 6, Buffer.alloc(13)))],
    [
      'malformed',
      'sent a bitfield with spare bits set',
      (p) => p.write(msg({ type: 'bitfield', bits: badBits })),
    ],
    ['malformed', 'sent a piece with an empty block', (p) => p.write(frame(9, 7, Buffer.alloc(8)))],
    [
      'malformed',
      'sent a REQUEST for 0 bytes',
      (p) => p.write(msg({ type: 'request', index: 0, begin: 0, length: 0 })),
    ],
    [
      'malformed',
      'sent a REQUEST for 32 KiB',
      (p) => p.write(msg({ type: 'request', index: 0, begin: 0, length: 32768 })),
    ],
    [
      'malformed',
      'sent an extension handshake that is not bencode',
      (p) => p.write(msg({ type: 'extended', id: 0, payload: Buffer.from('not bencode') })),
    ],
    [
      'malformed',
      'sent an extension handshake that is a list',
      (p) => p.write(msg({ type: 'extended', id: 0, payload: Buffer.from('li1ee') })),
    ],
    ['out of range', `sent HAVE ${n} of ${n}`, (p) => p.send({ type: 'have', index: n })],
    ['out of range', 'sent HAVE 2^32-1', (p) => p.send({ type: 'have', index: 0xffff_ffff })],
    [
      'out of range',
      `asked for piece ${n} of ${n}`,
      (p) => p.send({ type: 'interested' }, { type: 'request', index: n, begin: 0, length: 16384 }),
    ],
    [
      'out of range',
      'asked for piece 2^32-1',
      (p) => p.send({ type: 'request', index: 0xffff_ffff, begin: 0, length: 16384 }),
    ],
    [
      'out of range',
      'asked for a block past the end of a piece',
      (p) =>
        p.send({ type: 'interested' }, { type: 'request', index: 0, begin: m.pieceLength, length: 16384 }),
    ],
    [
      'out of range',
      'asked for a block that runs past a piece',
      (p) =>
        p.send(
          { type: 'interested' },
          { type: 'request', index: 2, begin: m.pieceLength - 100, length: 16384 },
        ),
    ],
    [
      'out of range',
      'asked for a block past the end of the last (short) piece',
      (p) => p.send({ type: 'interested' }, { type: 'request', index: last, begin: lastSize, length: 1 }),
    ],
    [
      'out of range',
      'asked for offset 2^32-1',
      (p) => p.send({ type: 'interested' }, { type: 'request', index: 0, begin: 0xffff_ffff, length: 16384 }),
    ],
    ['out of range', 'suggested piece 2^32-1', (p) => p.send({ type: 'suggest', index: 0xffff_ffff })],
    ['out of range', `allowed us fast piece ${n} of ${n}`, (p) => p.send({ type: 'allowed-fast', index: n })],
  ];
}

test('protocol violations: each hostile peer is dropped while an honest download completes byte-identical', async (t) => {
  const out = join(h.dir, 'honest');
  const honest = cs(h, ['download', torrent, '--out', out, '--port', '0']);
  await honest.waitFor(/^listening on /m);

  // Connection-level: refused before the seed says a word.
  for (const [what, bytes] of [
    ['opened with MSE-looking bytes', Buffer.from([0x8a, 0x17, 0x3c, 0x00, 0xff, 0x21])],
    ['sent an HTTP request', Buffer.from('GET /announce?info_hash=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')],
    [
      'named another protocol',
      Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocoX'), Buffer.alloc(48)]),
    ],
    [
      'sent a TLS ClientHello',
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
    ],
  ] as const) {
    const p = await dial();
    p.write(bytes);
    await dropped(p, what);
    assert.equal(p.bytesIn, 0, `the seed answered a peer that ${what}`);
    count('not a BitTorrent handshake');
  }
  {
    const p = await dial();
    p.handshake({ infoHash: Buffer.alloc(20, 0x5a) });
    await dropped(p, 'asked for a torrent the seed does not serve');
    assert.equal(p.bytesIn, 0, 'the seed answered a handshake for another infohash');
    count('wrong infohash');
  }
  {
    const p = await dial();
    p.handshake({ infoHash: m.infoHash, fast: false });
    await p.waitHandshake();
    p.send({ type: 'have-all' });
    await dropped(p, 'sent HAVE ALL without the fast extension');
    count('BEP 6 message without the fast bit');
    for (const x of [
      { type: 'reject', index: 0, begin: 0, length: 16384 },
      { type: 'allowed-fast', index: 0 },
      { type: 'suggest', index: 0 },
    ] as WireMessage[]) {
      const q = await handshaken({ fast: false });
      q.send(x);
      await dropped(q, `sent ${x.type} without the fast extension`);
      count('BEP 6 message without the fast bit');
    }
  }

  // After a proper handshake: every case on its own connection, all at once.
  const cases = protocolCases();
  await Promise.all(
    cases.map(async ([kind, what, act]) => {
      const p = await handshaken();
      act(p);
      await dropped(p, what);
      count(kind);
    }),
  );

  await stillServes();
  assert.equal(await honest.exited(60_000), 0, honest.output());
  assert.match(honest.output(), /^complete lecture\.bin /m);
  assert.ok(await sameBytes(data, join(out, 'lecture.bin')), 'the honest download differs from the data');
  assert.equal(seed.child.exitCode, null, 'the seed died');
  t.diagnostic(`hostile inputs: ${[...tried].map(([k, v]) => `${k} ${v}`).join(', ')}`);
});

test('floods: requests beyond reqq, requests while choked, repeated HAVEs, a peer that never reads', async (t) => {
  const out = join(h.dir, 'honest-flood');
  const honest = cs(h, ['download', torrent, '--out', out, '--port', '0']);
  await honest.waitFor(/^listening on /m);
  const n = m.pieceCount;
  const requests = (count: number, from = 0): Buffer =>
    Buffer.concat(
      Array.from({ length: count }, (_, i) =>
        encodeMessage({
          type: 'request',
          index: (from + i) % n,
          begin: (((i / n) | 0) % 4) * 16384,
          length: 16384,
        }),
      ),
    );

  await Promise.all([
    (async () => {
      // Unchoked, then 1200 distinct requests at once: reqq (500) are queued, the rest rejected, and a peer
      // that goes on past twice the limit is dropped.
      const p = await handshaken();
      p.send({ type: 'interested' });
      await p.waitMessage((x) => x.type === 'unchoke', 'unchoke');
      p.write(requests(1200));
      await dropped(p, 'kept 1200 requests outstanding (reqq 500)');
      count('request flood', 1200);
    })(),
    (async () => {
      // Never unchoked: every request is refused, and a peer that keeps asking is dropped.
      const p = await handshaken();
      p.write(requests(1200));
      await dropped(p, 'sent 1200 requests while choked');
      count('request flood', 1200);
    })(),
    (async () => {
      // The same HAVE again and again carries nothing: a flood of them is dropped.
      const p = await handshaken();
      const have = encodeMessage({ type: 'have', index: 3 });
      p.write(Buffer.concat(Array.from({ length: 50_000 }, () => have)));
      await dropped(p, 'repeated one HAVE 50000 times');
      count('HAVE flood', 50_000);
    })(),
    (async () => {
      // A peer that asks and never reads the REJECTs must not make the seed queue them without end.
      const p = await handshaken();
      p.socket.pause();
      let sent = 0;
      while (!p.closed && sent < 2_000_000) {
        p.write(requests(20_000, sent));
        sent += 20_000;
        await new Promise((r) => setTimeout(r, 20));
      }
      await dropped(p, `sent ${sent} requests without reading a byte`);
      count('request flood (not reading)', sent);
    })(),
  ]);

  await stillServes();
  assert.equal(await honest.exited(60_000), 0, honest.output());
  assert.ok(await sameBytes(data, join(out, 'lecture.bin')), 'the honest download differs from the data');
  t.diagnostic(`hostile inputs: ${[...tried].map(([k, v]) => `${k} ${v}`).join(', ')}`);
});

test('unrequested blocks get a peer banned by its ip:port, also when it comes back; others are let in', async () => {
  const claimed = await freePort();
  const p = await handshaken({ listenPort: claimed });
  await p.waitMessage((x) => x.type === 'have-all', 'HAVE ALL');
  // A seeder asks for nothing, so every block is unrequested: one point each, a ban at six.
  for (let i = 0; i < 6; i++) p.send({ type: 'piece', index: i, begin: 0, block: Buffer.alloc(16384, 0xee) });
  await dropped(p, 'sent six blocks nobody asked for');
  count('unrequested block', 6);

  // Back from a new socket, introducing itself by the same listening port (BEP 10 `p`): still banned.
  const again = await handshaken({ listenPort: claimed });
  await dropped(again, 'came back after its ban under the same ip:port');
  count('banned peer reconnecting');

  // Another peer on the same IP with another port is not caught by that ban.
  const other = await handshaken({ listenPort: claimed + 1 === 65536 ? claimed - 1 : claimed + 1 });
  await other.waitMessage((x) => x.type === 'have-all', 'HAVE ALL for an unbanned peer');
  other.send({ type: 'interested' });
  await other.waitMessage((x) => x.type === 'unchoke', 'unchoke for an unbanned peer');
  assert.equal(other.closed, false);
  other.close();
});

test('MSE bytes or an HTTP request are closed at once, and the same address then connects in plain', async () => {
  for (const first of [
    Buffer.from([0xc3, 0x5e, 0x91, 0x04, 0x77, 0x10, 0x00, 0x3b]),
    Buffer.from('GET / HTTP/1.0\r\n\r\n'),
  ]) {
    const localPort = await freePort();
    const p = await dial(localPort);
    p.write(first);
    await dropped(p, `opened with ${JSON.stringify(first.subarray(0, 4).toString('latin1'))}`);
    count('not a BitTorrent handshake');
    // aria2's way: right after the encrypted attempt fails, the same address tries a plain handshake. The
    // kernel may hold that address a moment longer while the first connection finishes closing
    // (EADDRNOTAVAIL): the retry waits for it, as a client's would.
    const plain = await redial(localPort);
    assert.equal(plain.socket.localPort, localPort);
    plain.handshake({ infoHash: m.infoHash });
    await plain.waitHandshake();
    plain.send({ type: 'interested' });
    await plain.waitMessage((x) => x.type === 'unchoke', 'unchoke after a plain handshake');
    plain.close();
  }
});
