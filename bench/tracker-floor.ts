/**
 * The floor under the tracker's HTTP figure: a server on the tracker's own socket layer
 * (src/tracker/server/tcp.ts) that answers every connection's first bytes with one fixed reply the
 * size of a 50-peer compact announce answer, then closes, as the tracker does. No parsing, no
 * swarm, no encoding: what is left is Node's cost per connection (accept, the handle, the
 * callbacks into JavaScript, the write and the close), which no tracker in Node can go below.
 *
 *   node --import tsx bench/tracker-floor.ts handles|net
 *
 * `handles` is the layer the tracker uses; `net` is net.Server and net.Socket, Node's documented
 * API, for comparison. Listens on a free loopback port and prints `floor listening on PORT`.
 */
import { listenTcp, type SocketLayer } from '../src/tracker/server/tcp.js';

const layer = process.argv[2] as SocketLayer;
if (layer !== 'handles' && layer !== 'net') {
  console.error('usage: tracker-floor.ts handles|net');
  process.exit(2);
}
// d8:completei..e10:incompletei..e8:intervali1800e12:min intervali900e5:peers300:<300 bytes>10:tracker id12:...e
const body = Buffer.concat([
  Buffer.from('d8:completei17e10:incompletei50e8:intervali1800e12:min intervali900e5:peers300:', 'latin1'),
  Buffer.alloc(300, 1),
  Buffer.from('10:tracker id12:0123456789abe', 'latin1'),
]);
const reply = Buffer.concat([
  Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`,
    'latin1',
  ),
  body,
]);
const listener = await listenTcp('127.0.0.1', 0, layer, {
  onConnection() {},
  onData(conn) {
    conn.reply(reply);
  },
  onEnd(conn) {
    conn.close();
  },
});
console.log(`floor listening on ${listener.port}`);
process.on('SIGTERM', () => {
  void listener.close().then(() => process.exit(0));
});
