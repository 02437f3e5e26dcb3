import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '../../src/codec/index.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { decodePex, encodePex, PexFlag, PexInbox, PexLink, PexState } from '../../src/wire/index.js';

const isWire = (e: unknown) => isChunkswarmError(e, 'EWIRE_MESSAGE');
const peer = (i: number, flags = 0) => ({ host: `10.0.${i >> 8}.${i & 255}`, port: 6881, flags });

describe('ut_pex codec (BEP 11)', () => {
  it('encodes IPv4 and IPv6 peers with their flags, byte for byte', () => {
    const b = encodePex({
      added: [
        { host: '1.2.3.4', port: 0x1ae1, flags: PexFlag.seed | PexFlag.reachable },
        { host: '::1', port: 1, flags: PexFlag.utp },
      ],
      dropped: [{ host: '5.6.7.8', port: 80 }],
    });
    assert.equal(
      b.toString('latin1'),
      'd5:added6:\x01\x02\x03\x04\x1a\xe17:added.f1:\x126:added618:' +
        `${'\x00'.repeat(15)}\x01\x00\x01` +
        '8:added6.f1:\x047:dropped6:\x05\x06\x07\x08\x00\x50e',
    );
    assert.deepEqual(decodePex(b), {
      added: [
        { host: '1.2.3.4', port: 6881, flags: 0x12 },
        { host: '::1', port: 1, flags: 0x04 },
      ],
      dropped: [{ host: '5.6.7.8', port: 80 }],
    });
  });

  it('reads messages without flags, skips port 0, and keeps at most maxPeers per list', () => {
    const added = Buffer.concat(
      Array.from({ length: 120 }, (_, i) => Buffer.from([10, 0, 0, i, 0, i === 0 ? 0 : 1])),
    );
    const m = decodePex(encode({ added }));
    assert.equal(m.added.length, 100);
    assert.deepEqual(m.added[0], { host: '10.0.0.1', port: 1, flags: 0 });
    assert.deepEqual(decodePex(encode({})), { added: [], dropped: [] });
    assert.equal(decodePex(encode({ added }), { maxPeers: 3 }).added.length, 3);
  });

  it('refuses what is not a ut_pex message', () => {
    for (const bad of [
      Buffer.from('le'),
      Buffer.from('d5:added'),
      encode({ added: Buffer.alloc(7) }),
      encode({ dropped6: Buffer.alloc(17) }),
      encode({ added: 5 }),
      Buffer.alloc(9000, 0x64),
    ]) {
      assert.throws(() => decodePex(bad), isWire);
    }
    assert.throws(
      () => encodePex({ added: Array.from({ length: 51 }, (_, i) => peer(i)), dropped: [] }),
      isWire,
    );
  });
});

describe('PexState: what to tell one peer', () => {
  it('sends the connected set as a diff, at most 50 added and 50 dropped, the rest next time', () => {
    const s = new PexState();
    assert.equal(s.next([]), undefined);
    const first = Array.from({ length: 70 }, (_, i) => peer(i, PexFlag.reachable));
    const m1 = s.next(first)!;
    assert.equal(m1.added.length, 50);
    assert.deepEqual(m1.dropped, []);
    const m2 = s.next(first)!;
    assert.deepEqual(
      m2.added.map((p) => p.host),
      first.slice(50).map((p) => p.host),
    );
    assert.equal(s.next(first), undefined, 'nothing changed');
    // 60 of them go, one arrives.
    const now = [...first.slice(60), peer(500)];
    const m3 = s.next(now)!;
    assert.deepEqual(
      m3.added.map(({ compact, ...p }) => p),
      [peer(500)],
    );
    // Its compact entry is made once, with the snapshot, for every link that names it.
    assert.deepEqual(m3.added[0]!.compact, Buffer.from([10, 0, 1, 244, 0x1a, 0xe1]));
    assert.equal(m3.dropped.length, 50);
    const m4 = s.next(now)!;
    assert.deepEqual(m4.added, []);
    assert.equal(m4.dropped.length, 10);
    assert.equal(s.next(now), undefined);
  });

  it('names a dropped peer by the address and port it was added with, IPv6 too', () => {
    const s = new PexState();
    const v6 = { host: '2001:db8::7', port: 51413, flags: 0 };
    s.next([v6, peer(1)]);
    assert.deepEqual(s.next([peer(1)]), { added: [], dropped: [{ host: '2001:db8::7', port: 51413 }] });
    const m = s.next([]);
    assert.deepEqual(m, { added: [], dropped: [{ host: peer(1).host, port: peer(1).port }] });
    assert.deepEqual(decodePex(encodePex(m!)).dropped, m!.dropped);
  });

  it('leaves out peers without a usable address or port', () => {
    const s = new PexState();
    assert.equal(
      s.next([
        { host: 'example.org', port: 1, flags: 0 },
        { host: '10.0.0.1', port: 0, flags: 0 },
      ]),
      undefined,
    );
  });
});

describe('PexInbox: flood guard', () => {
  it('takes BEP 11 pace and a few extra, and refuses the sender past 6 in a minute', () => {
    const inbox = new PexInbox();
    for (let i = 0; i < 6; i++) assert.ok(inbox.accept(i * 1000));
    assert.equal(inbox.accept(7000), false);
    // A minute on, the old ones no longer count.
    const paced = new PexInbox();
    for (let i = 0; i < 100; i++) assert.ok(paced.accept(i * 60_000));
  });
});

describe('PexLink: ut_pex on one connection', () => {
  it('sends at most once a minute, only changes, never the remote itself', () => {
    const remote = peer(1);
    const link = new PexLink(remote);
    assert.equal(link.outgoing(0, [remote]), undefined, 'only the remote: nothing to say');
    const first = link.outgoing(0, [remote, peer(2)]);
    assert.ok(first);
    assert.deepEqual(decodePex(first).added, [peer(2)]);
    assert.equal(link.outgoing(30_000, [remote, peer(2), peer(3)]), undefined, 'not within the minute');
    const second = link.outgoing(60_000, [remote, peer(3)]);
    assert.ok(second);
    assert.deepEqual(decodePex(second), { added: [peer(3)], dropped: [{ host: peer(2).host, port: 6881 }] });
    assert.equal(link.outgoing(200_000, [remote, peer(3)]), undefined, 'nothing changed');
  });

  it('reads peers, ignores junk, and says when the sender floods', () => {
    const link = new PexLink(peer(1));
    const payload = encodePex({ added: [peer(9, PexFlag.seed)], dropped: [] });
    assert.deepEqual(link.incoming(0, payload), { kind: 'peers', added: [peer(9, PexFlag.seed)] });
    assert.deepEqual(link.incoming(1, Buffer.from('junk')), { kind: 'bad' });
    for (let i = 2; i < 6; i++) link.incoming(i, payload);
    assert.deepEqual(link.incoming(7, payload), { kind: 'flood' });
  });
});
