/**
 * bench/udp-announce.ts: a load of BEP 15 announces over UDP, the counterpart of bench/announce.lua
 * (which drives wrk over HTTP). Loopback only, bounded in time and in packets in flight.
 *
 *   node --import tsx bench/udp-announce.ts --host 127.0.0.1 --port P --swarms FILE --seconds 10
 *
 * Each of --in-flight sockets (default 64) repeats one exchange: a connect, then an announce with
 * the connection id it got. A client announcing every half hour or so must connect first each time,
 * since a connection id lives one to two minutes (BEP 15), so the pair is the unit of work, as one
 * TCP connection per announce is for the http load. The announcing peer is a random member of a
 * fixed population spread over the swarms, as in announce.lua. A request unanswered within
 * --timeout-ms is counted and the socket starts over with a new connect.
 *
 * It prints one line at the end, `BENCH_UDP announces=... error=...` (lib/udp-load.ts reads it),
 * with its own CPU seconds, so a reader can tell whether it or the tracker set the pace.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  ACTION_ANNOUNCE,
  ACTION_CONNECT,
  ACTION_ERROR,
  EVENT,
  formatUdpLoadResult,
  peerOf,
  readReplyHead,
  writeAnnounce,
  writeConnect,
} from './lib/udp-load.js';

const MAX_IN_FLIGHT = 1024;
const MAX_SECONDS = 600;

function positive(name: string, raw: string | undefined, fallback: number, max: number): number {
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    process.stderr.write(`udp-announce: --${name} must be a number in (0, ${max}], got ${raw}\n`);
    process.exit(2);
  }
  return n;
}

const { values: v } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    swarms: { type: 'string' },
    seconds: { type: 'string' },
    'in-flight': { type: 'string' },
    peers: { type: 'string' },
    numwant: { type: 'string' },
    'timeout-ms': { type: 'string' },
  },
});
const host = v.host ?? '127.0.0.1';
// loopback only: the bench never sends load anywhere else
if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== '::1') {
  process.stderr.write(`udp-announce: --host must be a loopback address, got ${host}\n`);
  process.exit(2);
}
const port = Math.floor(positive('port', v.port, Number.NaN, 65535));
const seconds = positive('seconds', v.seconds, 10, MAX_SECONDS);
const inFlight = Math.floor(positive('in-flight', v['in-flight'], 64, MAX_IN_FLIGHT));
const population = Math.floor(positive('peers', v.peers, 20000, 1_000_000));
const numWant = Math.floor(positive('numwant', v.numwant, 50, 200));
const timeoutMs = positive('timeout-ms', v['timeout-ms'], 1000, 60_000);
if (!v.swarms) {
  process.stderr.write('udp-announce: --swarms FILE (40 hex digits a line) is required\n');
  process.exit(2);
}
const swarms = readFileSync(v.swarms, 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => /^[0-9a-fA-F]{40}$/.test(l))
  .map((l) => Buffer.from(l, 'hex'));
if (swarms.length === 0) {
  process.stderr.write(`udp-announce: no 40-hex infohash in ${v.swarms}\n`);
  process.exit(2);
}

// the population, built once: the hot loop only picks from it
const peers = Array.from({ length: population }, (_, k) => peerOf(k, swarms.length));

const counts = { announces: 0, connects: 0, errors: 0, timeouts: 0 };
let firstError: string | null = null;
// round-trip times of connect + announce; a ring, so memory stays bounded on a long run
const rtt = new Float64Array(1 << 20);
let rttCount = 0;
let running = true;
let nextTransaction = (Math.random() * 0xffffffff) >>> 0;

class Lane {
  readonly #socket: Socket;
  readonly #connectBuf = Buffer.alloc(16);
  readonly #announceBuf = Buffer.alloc(98);
  readonly #connectionId = Buffer.alloc(8);
  #transactionId = 0;
  #waiting: 'connect' | 'announce' | null = null;
  #sentAt = 0;
  #startedAt = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg) => this.#onReply(msg));
  }

  /** A new exchange: connect first. */
  start(): void {
    if (!running) {
      this.#waiting = null;
      return;
    }
    this.#transactionId = nextTransaction++ >>> 0;
    this.#waiting = 'connect';
    this.#startedAt = this.#sentAt = performance.now();
    this.#socket.send(writeConnect(this.#connectBuf, this.#transactionId));
  }

  /** Called by the sweep: starts over when the reply is overdue. */
  checkTimeout(now: number): void {
    if (this.#waiting !== null && now - this.#sentAt > timeoutMs) {
      counts.timeouts++;
      this.start();
    }
  }

  #onReply(msg: Buffer): void {
    const head = readReplyHead(msg);
    // a late reply to a request already given up on is not this exchange's
    if (head === null || this.#waiting === null || head.transactionId !== this.#transactionId) return;
    if (head.action === ACTION_ERROR) {
      counts.errors++;
      firstError ??= msg.subarray(8).toString('utf8');
      this.start();
      return;
    }
    if (this.#waiting === 'connect' && head.action === ACTION_CONNECT && msg.length >= 16) {
      counts.connects++;
      msg.copy(this.#connectionId, 0, 8, 16);
      this.#announce();
      return;
    }
    if (this.#waiting === 'announce' && head.action === ACTION_ANNOUNCE && msg.length >= 20) {
      counts.announces++;
      rtt[rttCount++ % rtt.length] = performance.now() - this.#startedAt;
      this.start();
      return;
    }
    // a reply of the wrong kind: count it as an error and start over
    counts.errors++;
    firstError ??= `unexpected reply: action ${head.action}, ${msg.length} bytes`;
    this.start();
  }

  #announce(): void {
    const k = Math.floor(Math.random() * population);
    const peer = peers[k] as ReturnType<typeof peerOf>;
    const roll = Math.floor(Math.random() * 100) + 1;
    const event =
      roll <= 5 ? EVENT.started : roll === 6 ? EVENT.completed : roll === 7 ? EVENT.stopped : EVENT.none;
    this.#transactionId = nextTransaction++ >>> 0;
    this.#waiting = 'announce';
    this.#sentAt = performance.now();
    this.#socket.send(
      writeAnnounce(this.#announceBuf, {
        connectionId: this.#connectionId,
        transactionId: this.#transactionId,
        infoHash: swarms[peer.swarm] as Buffer,
        peerId: peer.peerId,
        left: peer.seed ? 0 : 134217728,
        event,
        key: k,
        numWant,
        port: peer.port,
      }),
    );
  }
}

function percentile(xs: Float64Array, p: number): number {
  if (xs.length === 0) return 0;
  const sorted = Float64Array.from(xs).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function openLane(): Promise<Lane> {
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  // nothing on loopback should fail; a send error (the tracker went away) shows up as timeouts
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.bind(0, isIP(host) === 6 ? '::1' : '127.0.0.1', resolve));
  // a connected socket sends without an address lookup and hears only the tracker
  await new Promise<void>((resolve) => socket.connect(port, host, resolve));
  return new Lane(socket);
}

async function main(): Promise<void> {
  const lanes = await Promise.all(Array.from({ length: inFlight }, openLane));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const l of lanes) l.checkTimeout(now);
  }, 50);
  for (const l of lanes) l.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  running = false;
  const duration = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sweep);
  const samples = rtt.subarray(0, Math.min(rttCount, rtt.length));
  process.stdout.write(
    `${formatUdpLoadResult({
      ...counts,
      durationSeconds: duration,
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      firstError,
    })}\n`,
  );
  process.exit(0);
}

// bounded whatever happens: a stuck run ends by itself
setTimeout(
  () => {
    process.stderr.write('udp-announce: did not finish in time\n');
    process.exit(1);
  },
  (seconds + 20) * 1000,
).unref();
main().catch((err: unknown) => {
  process.stderr.write(`udp-announce: ${(err as Error).message}\n`);
  process.exit(1);
});
