/**
 * ut_pex (BEP 11) against libtorrent at the wire level, through scripted peers that speak with our own
 * codec: libtorrent's PEX message, decoded by `decodePex`, names a third peer connected to it; and a
 * message made by `PexState`/`encodePex` makes a libtorrent leecher dial the peer it names.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMetainfo } from '../../src/metainfo/index.js';
import {
  decodeExtensionHandshake,
  decodePex,
  encodeExtensionHandshake,
  encodePex,
  PexFlag,
  PexState,
  UT_PEX,
  type WireMessage,
} from '../../src/wire/index.js';
import { closeAll, hostilePeerId, ScriptedPeer } from '../hostile/scripted-peer.js';
import { Harness, makeFile } from '../integration/harness.js';
import { LT_PEER, ltMake } from './clients.js';
import { needPackages, PYTHON } from './gate.js';

/** The id we ask libtorrent to send ut_pex under (BEP 10 lets each side choose its own). */
const OUR_PEX_ID = 7;

/** Dials libtorrent as a leecher holding nothing, offering ut_pex and naming `listenPort` as `p`. */
async function leecher(
  ltPort: number,
  infoHash: Buffer,
  pieceCount: number,
  listenPort: number,
): Promise<ScriptedPeer> {
  const p = await ScriptedPeer.dial(ltPort, { pieceCount });
  p.handshake({ infoHash, peerId: hostilePeerId(), extended: true, fast: true });
  p.send(
    {
      type: 'extended',
      id: 0,
      payload: encodeExtensionHandshake({
        m: { [UT_PEX]: OUR_PEX_ID },
        port: listenPort,
        client: 'pex-interop 0.1',
      }),
    },
    { type: 'have-none' },
  );
  await p.waitHandshake();
  return p;
}

const isPex = (m: WireMessage) => m.type === 'extended' && m.id === OUR_PEX_ID;

describe('ut_pex interop with libtorrent', () => {
  const h = new Harness();
  const servers: ReturnType<typeof createServer>[] = [];
  let torrent = '';
  let infoHash: Buffer = Buffer.alloc(0);
  let pieceCount = 0;
  let dataDir = '';

  before(async () => {
    await h.setup();
    dataDir = join(h.dir, 'seed');
    const data = join(dataDir, 'pex.bin');
    await makeFile(data, 128 * 1024, 'pex-interop');
    torrent = join(h.dir, 'pex.torrent');
    await ltMake(data, torrent, { pieceLength: 16 * 1024 });
    const meta = parseMetainfo(await readFile(torrent));
    infoHash = meta.infoHash;
    pieceCount = meta.pieceCount;
  });
  after(async () => {
    closeAll();
    for (const s of servers) s.close();
    await h.teardown();
  });

  /** A TCP listener standing for a peer's listening port; records the handshakes dialled to it. */
  async function listener(): Promise<{ port: number; dialled: Buffer[] }> {
    const dialled: Buffer[] = [];
    const server = createServer((s: Socket) => {
      s.once('data', (d: Buffer) => dialled.push(d));
      s.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    return { port: typeof a === 'object' && a ? a.port : 0, dialled };
  }

  it("decodes libtorrent's PEX message: a seeder tells one leecher about the other", async (t) => {
    if (!needPackages(t, 'python3-libtorrent')) return;
    const seeder = h.spawn(PYTHON, [
      LT_PEER,
      'seed',
      '--torrent',
      torrent,
      '--save',
      dataDir,
      '--max-seconds',
      '60',
    ]);
    const m = await seeder.waitFor(/listening 127\.0\.0\.1:(\d+)/);
    await seeder.waitFor(/^ready$/m);
    const ltPort = Number(m[1]);
    const third = await listener();
    const me = await listener();
    const a = await leecher(ltPort, infoHash, pieceCount, third.port);
    const b = await leecher(ltPort, infoHash, pieceCount, me.port);
    // libtorrent's first PEX goes out about a second after the extension handshake.
    const pex = await b.waitMessage(isPex, "libtorrent's ut_pex message", 20_000);
    assert.ok(pex.type === 'extended');
    const msg = decodePex(pex.payload);
    const third1 = msg.added.find((p) => p.host === '127.0.0.1' && p.port === third.port);
    assert.ok(third1, `the third peer is not in ${JSON.stringify(msg.added)}`);
    // It holds nothing: not flagged as a seed.
    assert.equal(third1.flags & PexFlag.seed, 0);
    a.close();
    b.close();
  });

  it('a libtorrent leecher dials the peer our PexState message names', async (t) => {
    if (!needPackages(t, 'python3-libtorrent')) return;
    const leech = h.spawn(PYTHON, [
      LT_PEER,
      'leech',
      '--torrent',
      torrent,
      '--save',
      join(h.dir, 'lt-leech'),
      '--max-seconds',
      '60',
    ]);
    const m = await leech.waitFor(/listening 127\.0\.0\.1:(\d+)/);
    await leech.waitFor(/^ready$/m);
    const me = await listener();
    const target = await listener();
    const b = await leecher(Number(m[1]), infoHash, pieceCount, me.port);
    const hs = await b.waitMessage((x) => x.type === 'extended' && x.id === 0, 'extension handshake');
    assert.ok(hs.type === 'extended');
    const theirPexId = decodeExtensionHandshake(hs.payload).m.get(UT_PEX);
    assert.ok(theirPexId !== undefined && theirPexId > 0, 'libtorrent offers ut_pex');
    const state = new PexState();
    const msg = state.next([
      { host: '127.0.0.1', port: target.port, flags: PexFlag.seed | PexFlag.reachable },
    ]);
    assert.ok(msg);
    b.send({ type: 'extended', id: theirPexId, payload: encodePex(msg) });
    const deadline = Date.now() + 20_000;
    while (target.dialled.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(target.dialled.length > 0, `libtorrent did not dial the PEX peer\n${leech.output()}`);
    // A BitTorrent handshake for our torrent.
    const first = target.dialled[0]!;
    assert.equal(first.subarray(1, 20).toString('latin1'), 'BitTorrent protocol');
    assert.deepEqual(first.subarray(28, 48), infoHash);
    b.close();
  });
});
