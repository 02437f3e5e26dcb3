/**
 * How a session names a peer that dialled it, in 'peer-connected' and 'peer-disconnected' (the seeder's log
 * lines, the peer page's events): by the port it listens on, which its BEP 10 handshake gives, rather than
 * the source port its system picked; and the same address in both events, whatever it learnt in between.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Client } from '../../src/session/client.js';
import type { TorrentSession } from '../../src/session/session.js';
import { encodeExtensionHandshake } from '../../src/wire/index.js';
import { closeAll, ScriptedPeer } from '../hostile/scripted-peer.js';
import { makeTorrent, startSeeder } from '../magnet/helpers.js';

const clients: Client[] = [];
after(async () => {
  closeAll();
  for (const c of clients) await c.close({ announce: false });
});

async function seederEvents(): Promise<{
  port: number;
  pieceCount: number;
  infoHash: Buffer;
  seen: string[];
}> {
  const metainfo = makeTorrent(8);
  const seeder = await startSeeder(metainfo);
  clients.push(seeder.client);
  const session = [...seeder.client.sessions.values()][0] as TorrentSession;
  const seen: string[] = [];
  session.events.on('peer-connected', (address) => seen.push(`connected ${address}`));
  session.events.on('peer-disconnected', (address) => seen.push(`left ${address}`));
  return { port: seeder.port, pieceCount: metainfo.pieceCount, infoHash: metainfo.infoHash, seen };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(cond(), `${what}: not within 5 s`);
}

describe('a peer that dialled us is named', () => {
  it('by the port its extension handshake says it listens on, when it connects and when it leaves', async () => {
    const s = await seederEvents();
    const p = await ScriptedPeer.dial(s.port, { pieceCount: s.pieceCount });
    p.handshake({ infoHash: s.infoHash, listenPort: 7001 });
    await p.waitHandshake();
    p.send({ type: 'have-none' });
    await until(() => s.seen.length === 1, 'connected');
    p.close();
    await until(() => s.seen.length === 2, 'left');
    assert.deepEqual(s.seen, ['connected 127.0.0.1:7001', 'left 127.0.0.1:7001']);
  });

  it('by its source port when it speaks no BEP 10, as soon as the handshakes are done', async () => {
    const s = await seederEvents();
    const p = await ScriptedPeer.dial(s.port, { pieceCount: s.pieceCount });
    p.handshake({ infoHash: s.infoHash, extended: false });
    await p.waitHandshake();
    const from = `127.0.0.1:${p.socket.localPort}`;
    await until(() => s.seen.length === 1, 'connected without a message');
    p.close();
    await until(() => s.seen.length === 2, 'left');
    assert.deepEqual(s.seen, [`connected ${from}`, `left ${from}`]);
  });

  it('under one address in both events when its listen port comes after its first message', async () => {
    const s = await seederEvents();
    const p = await ScriptedPeer.dial(s.port, { pieceCount: s.pieceCount });
    p.handshake({ infoHash: s.infoHash });
    await p.waitHandshake();
    const from = `127.0.0.1:${p.socket.localPort}`;
    p.send({ type: 'have-none' });
    await until(() => s.seen.length === 1, 'connected');
    p.send({
      type: 'extended',
      id: 0,
      payload: encodeExtensionHandshake({ m: {}, port: 7002, client: 'late 0.1' }),
    });
    p.send({ type: 'interested' });
    await p.waitMessage((m) => m.type === 'unchoke', 'unchoke');
    p.close();
    await until(() => s.seen.length === 2, 'left');
    assert.deepEqual(s.seen, [`connected ${from}`, `left ${from}`]);
  });
});
