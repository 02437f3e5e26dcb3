/**
 * A simulation scenario, as read from sim/scenarios/*.json: the torrent, the peers in groups (role,
 * capacities, when they join and leave), the network's latency and the checks to use. Rates are KiB/s,
 * times are seconds of virtual time.
 */
import { ChunkswarmError } from '../shared/errors.js';

export type PeerRole =
  /** Holds everything from the start and serves it. */
  | 'seeder'
  /** Downloads everything and serves what it has. */
  | 'leecher'
  /** Downloads, but its upload limit is 1 B/s: it takes requests and never serves them. */
  | 'free-rider'
  /** Holds everything but every block it serves is wrong: its pieces fail and it should be banned. */
  | 'corrupt';

export interface PeerGroup {
  readonly role: PeerRole;
  readonly count: number;
  /** Uplink, KiB/s; 0 = unlimited. */
  readonly upKiBps: number;
  /** Downlink, KiB/s; 0 = unlimited. */
  readonly downKiBps: number;
  /** When the first of the group joins, s. */
  readonly joinAt: number;
  /** The group's joins are spread evenly over this many seconds after joinAt. */
  readonly joinSpread: number;
  /** When each peer of the group leaves, s after it joined (undefined: it stays). */
  readonly leaveAfter?: number | undefined;
  /** How it leaves: `stop` announces and closes its connections; `crash` goes silent. */
  readonly leaveHow: 'stop' | 'crash';
  /** A leecher leaves this many seconds after completing (undefined: it stays and seeds). */
  readonly seedFor?: number | undefined;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly seed: number;
  readonly sizeMiB: number;
  readonly pieceKiB: number;
  /** Each host's share of a link's one-way latency, ms (a link's latency is the sum of both ends'). */
  readonly latencyMs: number;
  readonly trackerLatencyMs: number;
  /** The tracker's `interval` and `min interval`, s (default 1800 and 900, as chunkswarm's tracker). */
  readonly trackerInterval: number;
  readonly trackerMinInterval: number;
  /** Stop after this much virtual time even if some leecher has not finished, s. */
  readonly capSeconds: number;
  /** The seeder's first pass (each piece to one leecher before any twice); default on. */
  readonly superSeeding: boolean;
  /**
   * What a group's `upKiBps` / `downKiBps` are: `link` (default) the capacity of the peer's network link;
   * `limit` the peer's own `--upload-limit` / `--download-limit` over an unlimited link, as in `npm run
   * bench`, where every process has a limit on loopback.
   */
  readonly uplinks: 'link' | 'limit';
  /** `sha1` (real hashes) or `compare` (byte comparison with the generated content; see content.ts). */
  readonly hasher: 'sha1' | 'compare';
  /** Tit-for-tat unchoke slots of each peer. */
  readonly uploadSlots: number;
  /** Connections per peer at most. */
  readonly maxPeers: number;
  /** Connections a peer dials itself, at most (default: the session's, half of `maxPeers`). */
  readonly dialLimit: number | undefined;
  /** Progress samples, s. */
  readonly sampleEvery: number;
  readonly groups: readonly PeerGroup[];
}

function fail(msg: string): never {
  throw new ChunkswarmError('EUSAGE', `scenario: ${msg}`);
}

function num(o: Record<string, unknown>, key: string, dflt: number | undefined, min = 0): number {
  const v = o[key];
  if (v === undefined) {
    if (dflt === undefined) fail(`${key} is required`);
    return dflt;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(`${key} must be a number >= ${min}`);
  return v;
}

function uplinksOf(v: unknown): 'link' | 'limit' {
  if (v === undefined || v === 'link' || v === 'limit') return v ?? 'link';
  fail('uplinks must be link or limit');
}

function optNum(o: Record<string, unknown>, key: string): number | undefined {
  return o[key] === undefined ? undefined : num(o, key, 0);
}

const ROLES: readonly PeerRole[] = ['seeder', 'leecher', 'free-rider', 'corrupt'];

/** Reads and checks a scenario (parsed JSON); `peers` replaces the leechers' count (the first leecher group). */
export function parseScenario(json: unknown, opts: { peers?: number } = {}): Scenario {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('not a JSON object');
  const o = json as Record<string, unknown>;
  const groupsIn = o.groups;
  if (!Array.isArray(groupsIn) || groupsIn.length === 0) fail('groups must be a non-empty list');
  let replaced = false;
  const groups = groupsIn.map((g, i): PeerGroup => {
    if (typeof g !== 'object' || g === null) fail(`groups[${i}] is not an object`);
    const r = g as Record<string, unknown>;
    const role = r.role as PeerRole;
    if (!ROLES.includes(role)) fail(`groups[${i}].role must be one of ${ROLES.join(', ')}`);
    let count = num(r, 'count', 1, 0);
    if (role === 'leecher' && opts.peers !== undefined && !replaced) {
      count = opts.peers;
      replaced = true;
    }
    const leaveHow = r.leaveHow ?? 'stop';
    if (leaveHow !== 'stop' && leaveHow !== 'crash') fail(`groups[${i}].leaveHow must be stop or crash`);
    return {
      role,
      count: Math.floor(count),
      upKiBps: num(r, 'upKiBps', 0),
      downKiBps: num(r, 'downKiBps', 0),
      joinAt: num(r, 'joinAt', 0),
      joinSpread: num(r, 'joinSpread', 0),
      leaveAfter: optNum(r, 'leaveAfter'),
      leaveHow,
      seedFor: optNum(r, 'seedFor'),
    };
  });
  const hasher = o.hasher ?? 'sha1';
  if (hasher !== 'sha1' && hasher !== 'compare') fail('hasher must be sha1 or compare');
  const pieceKiB = num(o, 'pieceKiB', 256, 16);
  if (pieceKiB % 16 !== 0) fail('pieceKiB must be a multiple of 16');
  return {
    name: typeof o.name === 'string' ? o.name : 'unnamed',
    description: typeof o.description === 'string' ? o.description : '',
    seed: num(o, 'seed', 1),
    sizeMiB: num(o, 'sizeMiB', undefined, 1 / 64),
    pieceKiB,
    latencyMs: num(o, 'latencyMs', 10),
    trackerLatencyMs: num(o, 'trackerLatencyMs', 50),
    trackerInterval: num(o, 'trackerInterval', 1800, 1),
    trackerMinInterval: num(o, 'trackerMinInterval', Math.floor(num(o, 'trackerInterval', 1800, 1) / 2), 0),
    capSeconds: num(o, 'capSeconds', 3600, 1),
    superSeeding: o.superSeeding !== false,
    uplinks: uplinksOf(o.uplinks),
    hasher,
    uploadSlots: num(o, 'uploadSlots', 4, 1),
    maxPeers: num(o, 'maxPeers', 80, 1),
    dialLimit: o.dialLimit === undefined ? undefined : num(o, 'dialLimit', 1, 1),
    sampleEvery: num(o, 'sampleEvery', 1, 0.01),
    groups,
  };
}
