/**
 * The process's DHT node (one UDP socket per process) and its routing table on disk:
 * `<out>/.chunkswarm/dht.dat` for `download`/`seed`, any file for `chunkswarm dht --state`. The table is
 * written as all state is (temp file, fsync, rename), so a crash leaves the previous one; a missing or
 * damaged file is simply no table.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { compareDistance } from '../dht/distance.js';
import type { Endpoint } from '../dht/krpc.js';
import type { DhtNode, DhtStats } from '../dht/node.js';
import { DhtPeerSource } from '../dht/peer-source.js';
import { type DhtState, decodeDhtState, encodeDhtState } from '../dht/state.js';
import { resolveEndpoints, startDhtUdp } from '../dht/udp.js';
import { writeStateFile } from '../session/resume.js';
import { systemClock } from '../shared/clock.js';
import { isChunkswarmError } from '../shared/errors.js';
import { countOf } from '../shared/plural.js';

/** Where `download` and `seed` keep the table: beside the resume data. */
export function dhtStatePath(outDir: string): string {
  return join(outDir, '.chunkswarm', 'dht.dat');
}

/** The saved table, or undefined when there is none or it cannot be read (it is only a head start). */
export async function loadDhtState(path: string): Promise<DhtState | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    return undefined;
  }
  try {
    return decodeDhtState(bytes);
  } catch (err) {
    if (isChunkswarmError(err, 'EDHT_STATE')) return undefined;
    throw err;
  }
}

export async function saveDhtState(path: string, node: DhtNode): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeStateFile(path, encodeDhtState({ id: node.id, nodes: node.nodes() }));
}

/** How often a running node's table is saved, besides at close. */
const SAVE_EVERY_MS = 10 * 60_000;
/** Saved nodes asked first at start: the ones closest to our id know our neighbourhood. */
const SAVED_SEEDS = 16;

export interface ProcessDht {
  readonly node: DhtNode;
  readonly host: string;
  readonly port: number;
  /** Nodes it was started with: the bootstrap list plus the saved table. 0: it has nobody to ask. */
  readonly knownNodes: number;
  /**
   * Finds peers for one torrent: adds the torrent's own `nodes` (BEP 5), then announces `port` at once
   * and every 15 minutes, handing each batch of peers to `onPeers`. Undefined for a private torrent
   * (BEP 27). Call `stop()` on the source when the torrent stops.
   */
  track(
    torrent: { readonly infoHash: Buffer; readonly private: boolean; readonly nodes?: readonly Endpoint[] },
    port: number,
    onPeers: (peers: Endpoint[]) => void,
  ): DhtPeerSource | undefined;
  /** For `/status` and the pages. */
  stats(): DhtStats;
  /** Saves the table (when a state file was given), then closes the socket. */
  close(): Promise<void>;
}

/**
 * Whether `download`/`seed` should run a node by default: `--dht-bootstrap` named some, or a saved
 * table from an earlier run has some (issue 13: nothing is contacted that the user did not name).
 */
export async function hasDhtNodes(bootstrap: readonly Endpoint[], statePath: string): Promise<boolean> {
  if (bootstrap.length > 0) return true;
  const saved = await loadDhtState(statePath);
  return saved !== undefined && saved.nodes.length > 0;
}

/**
 * Binds the DHT's UDP socket, takes the saved id and nodes from `statePath` when there are some, and
 * joins through `bootstrap` and the saved nodes. Nothing is contacted that is not in either.
 */
export async function openDht(opts: {
  host: string;
  port: number;
  bootstrap: readonly Endpoint[];
  statePath?: string;
  /**
   * When `port` is taken (another chunkswarm's DHT on this machine), bind any free port instead of
   * failing: what a peer wants, since its TCP port is what it announces. `chunkswarm dht` says no.
   */
  anyPortIfTaken?: boolean;
}): Promise<ProcessDht> {
  const saved = opts.statePath === undefined ? undefined : await loadDhtState(opts.statePath);
  const bootstrap = await resolveEndpoints(opts.bootstrap);
  const bind = (port: number) => startDhtUdp({ host: opts.host, port, id: saved?.id });
  const udp = await bind(opts.port).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE' && opts.anyPortIfTaken === true) return bind(0);
    throw err;
  });
  const node = udp.node;
  const savedNodes = [...(saved?.nodes ?? [])].sort((a, b) => compareDistance(a.id, b.id, node.id));
  const seeds = savedNodes.slice(0, SAVED_SEEDS).map((n) => ({ host: n.host, port: n.port }));
  for (const n of savedNodes.slice(SAVED_SEEDS)) node.addNode(n);
  node.start([...bootstrap, ...seeds]);
  const statePath = opts.statePath;
  let cancelSave: (() => void) | undefined;
  if (statePath !== undefined) {
    const t = setInterval(() => {
      saveDhtState(statePath, node).catch(() => {});
    }, SAVE_EVERY_MS);
    t.unref();
    cancelSave = () => clearInterval(t);
  }
  return {
    node,
    host: udp.host,
    port: udp.port,
    knownNodes: bootstrap.length + savedNodes.length,
    track: (torrent, port, onPeers) => {
      const source = DhtPeerSource.for(node, torrent, {
        infoHash: torrent.infoHash,
        port,
        clock: systemClock,
        onPeers,
      });
      if (source === undefined) return undefined;
      // A torrent's nodes are pinged (by name, resolved first); one that does not resolve is skipped.
      for (const n of torrent.nodes ?? []) {
        resolveEndpoints([n]).then(
          ([e]) => node.addNode(e!),
          () => {},
        );
      }
      source.start();
      return source;
    },
    stats: () => node.stats(),
    close: async () => {
      cancelSave?.();
      try {
        if (statePath !== undefined && node.nodes().length > 0) await saveDhtState(statePath, node);
      } finally {
        await udp.close();
      }
    },
  };
}

/** The DHT flags of `download` and `seed`. */
export interface DhtFlags {
  /** false with --no-dht. */
  readonly dht?: boolean;
  readonly dhtBootstrap?: readonly Endpoint[];
}

/** Whether this command will run a DHT node: not turned off, and some node to start from. */
export async function wantsDht(flags: DhtFlags, statePath: string): Promise<boolean> {
  return flags.dht !== false && (await hasDhtNodes(flags.dhtBootstrap ?? [], statePath));
}

/**
 * The command's DHT node beside its peer port, when `wantsDht`: the Client then looks up every torrent
 * (not private) and every magnet there. Undefined when there is nothing to join.
 */
export async function startPeerDht(
  client: { readonly port: number; dht: unknown },
  host: string,
  flags: DhtFlags,
  statePath: string,
  log: (line: string) => void,
): Promise<ProcessDht | undefined> {
  if (!(await wantsDht(flags, statePath))) return undefined;
  await mkdir(dirname(statePath), { recursive: true });
  const dht = await openDht({
    host,
    port: client.port,
    bootstrap: flags.dhtBootstrap ?? [],
    statePath,
    anyPortIfTaken: true,
  });
  client.dht = dht;
  log(
    `dht node listening on udp://${dht.host}:${dht.port} (${countOf(dht.knownNodes, 'node')} to start from)`,
  );
  return dht;
}

/** Where `seed` keeps its table: its data belongs to the user, so in the user's state folder. */
export function seedDhtStatePath(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'chunkswarm', 'dht.dat');
}
