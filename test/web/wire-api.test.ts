import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TRACE_CAPACITY, TraceBook, type TraceSubject } from '../../src/peer/trace.js';
import { Client } from '../../src/session/client.js';
import { MAX_WIRE_PUSH, type PeerWebHandle, startPeerWeb } from '../../src/web/peer-web.js';
import type { PeerPageState, WireBacklog, WirePush } from '../../src/web/types.js';
import { call, nextEvent } from './helpers.js';

const handles: PeerWebHandle[] = [];
after(async () => {
  for (const h of handles) await h.close();
});

async function page(trace?: TraceBook): Promise<PeerWebHandle> {
  const h = await startPeerWeb({ client: new Client({ port: 0 }), command: 'download', trace });
  handles.push(h);
  return h;
}

test('without --trace the page has no Wire panel and the wire API says how to get one', async () => {
  const h = await page();
  assert.equal((await call(h.port, { path: '/api/state' })).json<PeerPageState>().wire, false);
  const r = await call(h.port, { path: '/api/wire' });
  assert.equal(r.status, 400);
  assert.match(r.json<{ error: string }>().error, /--trace/);
});

test('with --trace: connections listed, a backlog per connection, and pushes capped per batch', async () => {
  const book = new TraceBook();
  const h = await page(book);
  assert.equal((await call(h.port, { path: '/api/state' })).json<PeerPageState>().wire, true);
  const subject: TraceSubject = {
    peerAddress: '127.0.0.1:6881',
    outgoing: true,
    closed: false,
    clientName: '<img src=x onerror=alert(1)>',
    host: { infoHash: Buffer.alloc(20, 0xab) },
  };
  const trace = book.tracerFor(subject);
  const total = 1000;
  // A burst larger than one push takes: the page gets the newest MAX_WIRE_PUSH and a count of the rest.
  const pushed = nextEvent<WirePush>(h.port, (p) => p.entries.length > 0, {
    path: '/api/wire/events',
    onOpen: () => {
      for (let i = 0; i < total; i++) trace('in', { kind: 'message', message: { type: 'have', index: i } });
    },
  });
  const push = await pushed;
  assert.equal(push.connections.length, 1);
  assert.equal(push.connections[0]!.client, subject.clientName);
  assert.equal(push.connections[0]!.infoHash, 'ab'.repeat(20));
  assert.equal(push.entries.length, MAX_WIRE_PUSH);
  assert.equal(push.skipped, total - MAX_WIRE_PUSH);
  assert.deepEqual(
    push.entries.map((e) => e.seq),
    Array.from({ length: MAX_WIRE_PUSH }, (_, i) => total - MAX_WIRE_PUSH + i),
  );
  assert.equal(push.entries.at(-1)!.summary, `HAVE ${total - 1}`);
  assert.ok(push.entries.every((e) => e.conn === push.connections[0]!.id));

  const id = push.connections[0]!.id;
  const backlog = (await call(h.port, { path: `/api/wire/${id}` })).json<WireBacklog>();
  assert.equal(backlog.entries.length, TRACE_CAPACITY);
  assert.equal(backlog.entries[0]!.seq, total - TRACE_CAPACITY);
  assert.equal(backlog.connection.dropped, total - TRACE_CAPACITY);
  assert.equal((await call(h.port, { path: '/api/wire/12345' })).status, 404);
  const list = (await call(h.port, { path: '/api/wire' })).json<{ connections: { id: number }[] }>();
  assert.deepEqual(
    list.connections.map((c) => c.id),
    [id],
  );
});
