/**
 * The UDP announce load (BEP 15) for the tracker figure: the packets bench/udp-announce.ts sends,
 * the BENCH_UDP line it prints, and how the bench starts it. The packets are built here by hand,
 * not with chunkswarm's own codec, so the load does not share a bug with the tracker it measures.
 */
import { join } from 'node:path';
import { BENCH_DIR, ROOT } from './clients.js';
import { readResultLine, runLoadTool } from './load-tool.js';

export const UDP_ANNOUNCE_SCRIPT = join(BENCH_DIR, 'udp-announce.ts');

/** BEP 15: the constant a connect request carries where the connection id will go. */
const PROTOCOL_ID = 0x41727101980n;
export const ACTION_CONNECT = 0;
export const ACTION_ANNOUNCE = 1;
export const ACTION_ERROR = 3;
/** BEP 15 event codes. */
export const EVENT = { none: 0, completed: 1, started: 2, stopped: 3 } as const;
export const ANNOUNCE_BYTES = 98;

/** A connect request (16 bytes) into `out`. */
export function writeConnect(out: Buffer, transactionId: number): Buffer {
  out.writeBigUInt64BE(PROTOCOL_ID, 0);
  out.writeUInt32BE(ACTION_CONNECT, 8);
  out.writeUInt32BE(transactionId >>> 0, 12);
  return out.subarray(0, 16);
}

export interface AnnounceFields {
  /** the 8 bytes of the connect reply */
  connectionId: Buffer;
  transactionId: number;
  infoHash: Buffer;
  peerId: Buffer;
  left: number;
  event: number;
  key: number;
  numWant: number;
  port: number;
}

/** An announce request (98 bytes) into `out`: downloaded and uploaded 0, IP 0 (the sender's). */
export function writeAnnounce(out: Buffer, f: AnnounceFields): Buffer {
  f.connectionId.copy(out, 0, 0, 8);
  out.writeUInt32BE(ACTION_ANNOUNCE, 8);
  out.writeUInt32BE(f.transactionId >>> 0, 12);
  f.infoHash.copy(out, 16, 0, 20);
  f.peerId.copy(out, 36, 0, 20);
  out.writeBigUInt64BE(0n, 56);
  // left as two 32-bit halves: no BigInt per packet in the generator's hot loop
  out.writeUInt32BE(Math.floor(f.left / 0x100000000), 64);
  out.writeUInt32BE(f.left >>> 0, 68);
  out.writeBigUInt64BE(0n, 72);
  out.writeUInt32BE(f.event, 80);
  out.writeUInt32BE(0, 84);
  out.writeUInt32BE(f.key >>> 0, 88);
  out.writeInt32BE(f.numWant, 92);
  out.writeUInt16BE(f.port, 96);
  return out.subarray(0, ANNOUNCE_BYTES);
}

/** The head of a reply: its action and transaction id, or null when it is too short to have one. */
export function readReplyHead(msg: Buffer): { action: number; transactionId: number } | null {
  if (msg.length < 8) return null;
  return { action: msg.readUInt32BE(0), transactionId: msg.readUInt32BE(4) };
}

/**
 * Peer k of the population, as bench/announce.lua builds it for the http load: swarm k mod the
 * number of swarms, a peer id that encodes k, a port derived from k, a quarter of them seeds.
 */
export function peerOf(
  k: number,
  swarmCount: number,
): { swarm: number; peerId: Buffer; port: number; seed: boolean } {
  return {
    swarm: k % swarmCount,
    peerId: Buffer.from(`-BN0001-${String(k).padStart(12, '0')}`, 'latin1'),
    port: 10000 + (Math.floor(k / swarmCount) % 50000),
    seed: k % 4 === 0,
  };
}

export interface UdpLoadResult {
  /** announces answered with an announce reply */
  announces: number;
  /** connects answered with a connection id */
  connects: number;
  /** error replies (action 3) */
  errors: number;
  /** requests that got no reply within the timeout */
  timeouts: number;
  durationSeconds: number;
  /** connect + announce round trip, milliseconds */
  p50Ms: number;
  p99Ms: number;
  /** CPU the load generator itself used: near its wall time means it, not the tracker, set the pace */
  cpuSeconds: number;
  /** the first error reply's message, if any */
  firstError: string | null;
}

const NUMBER_FIELDS = {
  announces: 'announces',
  connects: 'connects',
  errors: 'errors',
  timeouts: 'timeouts',
  durationSeconds: 'duration_s',
  p50Ms: 'p50_ms',
  p99Ms: 'p99_ms',
  cpuSeconds: 'cpu_s',
} as const;

/** The BENCH_UDP line the generator prints last; `error=` carries the rest of the line. */
export function formatUdpLoadResult(r: UdpLoadResult): string {
  const nums = Object.entries(NUMBER_FIELDS)
    .map(([k, name]) => `${name}=${Number(r[k as keyof typeof NUMBER_FIELDS].toFixed(3))}`)
    .join(' ');
  const err = r.firstError === null ? '' : ` error=${r.firstError.replace(/[\r\n]+/g, ' ')}`;
  return `BENCH_UDP ${nums}${err}`;
}

export function parseUdpLoadResult(output: string): UdpLoadResult | null {
  const r = readResultLine(output, 'BENCH_UDP', ' error=');
  if (!r) return null;
  const { line, need } = r;
  const errAt = line.indexOf(' error=');
  return {
    announces: need('announces'),
    connects: need('connects'),
    errors: need('errors'),
    timeouts: need('timeouts'),
    durationSeconds: need('duration_s'),
    p50Ms: need('p50_ms'),
    p99Ms: need('p99_ms'),
    cpuSeconds: need('cpu_s'),
    firstError: errAt >= 0 ? line.slice(errAt + ' error='.length) : null,
  };
}

export interface UdpLoad {
  host: string;
  port: number;
  swarmsFile: string;
  seconds: number;
  /** sockets, each with one connect-then-announce exchange in flight (default 64, like wrk's -c64) */
  inFlight?: number;
  peers?: number;
  numwant?: number;
  /** run the generator under `taskset -c CPUS` */
  cpus?: string;
}

/** Runs bench/udp-announce.ts in its own process (so its CPU is not the bench's) and reads its result. */
export function runUdpLoad(load: UdpLoad): Promise<UdpLoadResult> {
  const args = [
    '--import',
    'tsx',
    UDP_ANNOUNCE_SCRIPT,
    '--host',
    load.host,
    '--port',
    String(load.port),
    '--swarms',
    load.swarmsFile,
    '--seconds',
    String(load.seconds),
    '--in-flight',
    String(load.inFlight ?? 64),
    '--peers',
    String(load.peers ?? 20000),
    '--numwant',
    String(load.numwant ?? 50),
  ];
  return runLoadTool('udp load', process.execPath, args, { ...load, cwd: ROOT }, parseUdpLoadResult);
}
