/**
 * The floor under the tracker's HTTP figure: a server on the tracker's own socket layer
 * (src/tracker/server/tcp.ts) that answers every connection's first bytes with one fixed reply the
 * size of a 50-peer compact announce answer, then closes, as the tracker does. No parsing, no
 * swarm, no encoding: what is left is Node's cost per connection (accept, the handle, the peer's
 * address, the callbacks into JavaScript, the write and the close), which no tracker in Node can go
 * below. The address is part of it: a tracker must record each peer's, and libuv's accept does not
 * return it, so it costs a `getpeername` (opentracker has it from `accept`); leaving it out put the
 * floor about 12% higher than any tracker could reach.
 *
 *   node --import tsx bench/tracker-floor.ts handles|net
 *
 *   node --import tsx bench/tracker-floor.ts udp|dgram
 *
 * `handles` is the layer the tracker uses; `net` is net.Server and net.Socket, Node's documented
 * API, for comparison. `udp` is the same floor for BEP 15 on the tracker's UDP socket
 * (src/tracker/server/udp.ts, `bindUdp`): each datagram is answered with a fixed reply of its
 * kind, a connect reply or a 50-peer announce reply, with only the transaction id copied in (the
 * load generator matches replies by it). No connection id is derived or checked, nothing parsed.
 * `dgram` is the same on a dgram Socket (what the tracker uses for a cluster-shared socket), for
 * comparison, as `net` is for TCP.
 * Listens on a free loopback port and prints `floor listening on PORT`.
 */
import { listenTcp } from '../src/tracker/server/tcp.js';
import { bindUdp } from '../src/tracker/server/udp.js';

const layer = process.argv[2];
if (layer !== 'handles' && layer !== 'net' && layer !== 'udp' && layer !== 'dgram') {
  console.error('usage: tracker-floor.ts handles|net|udp|dgram');
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
// BEP 15 replies: connect (action 0, transaction id, connection id) and announce (action 1,
// transaction id, interval, leechers, seeders, 50 compact IPv4 peers).
const udpConnect = Buffer.alloc(16);
udpConnect.writeUInt32BE(0, 0);
udpConnect.write('0123456789abcdef', 8, 'hex');
const udpAnnounce = Buffer.alloc(20 + 300, 1);
udpAnnounce.writeUInt32BE(1, 0);
udpAnnounce.writeUInt32BE(1800, 8);
udpAnnounce.writeUInt32BE(50, 12);
udpAnnounce.writeUInt32BE(17, 16);

const listener =
  layer === 'udp' || layer === 'dgram'
    ? // A shared socket is always a dgram Socket (see bindUdp).
      await bindUdp('127.0.0.1', 0, layer === 'dgram', (msg, rinfo) => {
        if (msg.length < 16) return;
        // A fresh buffer per reply, as the tracker's: a datagram that cannot leave at once is sent later.
        const template = msg.readUInt32BE(8) === 0 ? udpConnect : udpAnnounce;
        const out = Buffer.allocUnsafe(template.length);
        template.copy(out);
        msg.copy(out, 4, 12, 16);
        udpSocket?.send(out, rinfo);
      })
    : await listenTcp('127.0.0.1', 0, layer, {
        onConnection() {},
        onData(conn) {
          conn.remoteAddress();
          conn.reply(reply);
        },
        onEnd(conn) {
          conn.close();
        },
      });
const udpSocket = 'send' in listener ? listener : undefined;
console.log(`floor listening on ${listener.port}`);
process.on('SIGTERM', () => {
  void listener.close().then(() => process.exit(0));
});
