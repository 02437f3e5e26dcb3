/**
 * The tracker's UDP layer on its own (bindUdp): the bare libuv handle an exclusive socket uses and
 * the dgram socket a shared one uses deliver the same datagrams and send the same replies.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import { bindUdp, udpHandlesAvailable } from '../../src/tracker/server/udp.js';

async function echoRoundTrip(shared: boolean, host: '127.0.0.1' | '::1'): Promise<void> {
  const seen: string[] = [];
  const server = await bindUdp(host, 0, shared, (msg, rinfo) => {
    seen.push(msg.toString('latin1'));
    // Reply with a fresh buffer each time, as the tracker does.
    server.send(Buffer.from(`re:${msg.toString('latin1')}`, 'latin1'), rinfo);
  });
  const client = createSocket(host === '::1' ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((r) => client.bind(0, host, r));
    const replies: string[] = [];
    const all = new Promise<void>((resolve) => {
      client.on('message', (m) => {
        replies.push(m.toString('latin1'));
        if (replies.length === 20) resolve();
      });
    });
    for (let i = 0; i < 20; i++) client.send(`n${i}`, server.port, host);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${replies.length} of 20 replies in 5 s`)), 5000);
    });
    await Promise.race([all, late]).finally(() => clearTimeout(timer));
    assert.deepEqual([...replies].sort(), Array.from({ length: 20 }, (_, i) => `re:n${i}`).sort());
    assert.equal(seen.length, 20);
  } finally {
    client.close();
    await server.close();
  }
}

describe('bindUdp', () => {
  it('has the bare UDP handle on the Node the project runs on (else every socket is dgram)', () => {
    assert.equal(udpHandlesAvailable(), true);
  });

  it('answers every datagram on an exclusive socket (bare handle)', () => echoRoundTrip(false, '127.0.0.1'));
  it('answers every datagram on a shared socket (dgram)', () => echoRoundTrip(true, '127.0.0.1'));
  it('answers over IPv6 on an exclusive socket', async (t) => {
    try {
      await echoRoundTrip(false, '::1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') t.skip('no IPv6 loopback here');
      else throw err;
    }
  });
  it('refuses a port already bound, with the errno code', async () => {
    const first = await bindUdp('127.0.0.1', 0, false, () => {});
    try {
      await assert.rejects(
        bindUdp('127.0.0.1', first.port, false, () => {}),
        { code: 'EADDRINUSE' },
      );
    } finally {
      await first.close();
    }
  });
});
