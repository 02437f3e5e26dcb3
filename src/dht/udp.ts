/**
 * A `DhtNode` over one real UDP socket (IPv4: BEP 5's compact node and peer formats are IPv4). This is
 * the only part of the DHT that does I/O; the node itself cannot tell it from the simulated network.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { type Clock, systemClock } from '../shared/clock.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import type { Endpoint } from './krpc.js';
import { DhtNode, type DhtOptions } from './node.js';

export interface DhtUdp {
  readonly node: DhtNode;
  /** The address and port the socket is bound to (the port the OS picked for port 0). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface DhtUdpOptions extends DhtOptions {
  readonly host: string;
  readonly port: number;
  readonly clock?: Clock;
}

/** Binds the socket and wires it to a new node (not started: call `node.start(bootstrap)`). */
export async function startDhtUdp(opts: DhtUdpOptions): Promise<DhtUdp> {
  if (!isIPv4(opts.host)) {
    throw new ChunkswarmError(
      'EUSAGE',
      `the DHT binds an IPv4 address (BEP 5 carries IPv4 nodes), not ${JSON.stringify(opts.host)}`,
    );
  }
  const socket = createSocket({ type: 'udp4', reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, opts.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A send to a closed port comes back as an ICMP error on some systems: nothing to do about it.
  socket.on('error', () => {});
  let closed = false;
  const node = new DhtNode(
    {
      clock: opts.clock ?? systemClock,
      randomBytes: (n) => randomBytes(n),
      send: (datagram, host, port) => {
        if (closed) return;
        socket.send(datagram, port, host, () => {});
      },
    },
    opts,
  );
  socket.on('message', (msg, rinfo) => {
    // The node checks the size too; a datagram over the cap is not even looked at here.
    if (msg.length > LIMITS.dhtDatagramBytes || rinfo.family !== 'IPv4') return;
    node.onDatagram(msg, rinfo.address, rinfo.port);
  });
  const addr = socket.address();
  return {
    node,
    host: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        node.close();
        socket.close(() => resolve());
      }),
  };
}

/**
 * Bootstrap nodes as the user named them: host names resolved to IPv4 addresses (the node speaks in
 * addresses); a name that does not resolve is an error naming it.
 */
export async function resolveEndpoints(list: readonly Endpoint[]): Promise<Endpoint[]> {
  return Promise.all(
    list.map(async (e) => {
      if (isIPv4(e.host)) return { host: e.host, port: e.port };
      try {
        const { address } = await lookup(e.host, { family: 4 });
        return { host: address, port: e.port };
      } catch (err) {
        throw new ChunkswarmError(
          'EUSAGE',
          `cannot resolve DHT node ${e.host}:${e.port} to an IPv4 address`,
          {
            cause: err,
          },
        );
      }
    }),
  );
}
