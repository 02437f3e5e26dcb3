import type { Endpoint } from '../dht/krpc.js';
import { openDht, type ProcessDht } from './dht-process.js';
import { onShutdown } from './signals.js';

/**
 * `chunkswarm dht`: a bare DHT node (BEP 5) that answers queries, keeps a routing table and stores
 * announced peers: a bootstrap node for a class network. Runs until SIGINT/SIGTERM.
 */
export async function dhtCommand(opts: {
  host: string;
  port?: number;
  bootstrap?: Endpoint[];
  state?: string;
}): Promise<void> {
  // No --port: 6881, or the next free one, as for peers (DESIGN.md).
  const ports = opts.port === undefined ? Array.from({ length: 20 }, (_, i) => 6881 + i) : [opts.port];
  let dht: ProcessDht | undefined;
  for (let i = 0; dht === undefined; i++) {
    try {
      dht = await openDht({
        host: opts.host,
        port: ports[i]!,
        bootstrap: opts.bootstrap ?? [],
        statePath: opts.state,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i === ports.length - 1) throw err;
    }
  }
  const node = dht;
  // Scripts wait for this line.
  console.log(`dht node listening on udp://${node.host}:${node.port}`);
  console.log(`dht node id ${node.node.id.toString('hex')}`);
  if (node.knownNodes === 0) console.log('no bootstrap node: waiting for other nodes to contact this one');
  onShutdown(async () => {
    const s = node.node.stats();
    await node.close();
    console.log(`dht node stopped: ${s.nodes} nodes known, ${s.storedPeers} peers stored`);
  });
}
