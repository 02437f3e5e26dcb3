/**
 * `chunkswarm tracker --workers N`: the primary process. It serves nothing itself: it checks that
 * Redis answers, picks the port, forks N workers (each runs `chunkswarm tracker` with the same
 * arguments over the same Redis store) and prints the usual lines once they all listen.
 *
 * The workers share the TCP port and the UDP socket through Node's cluster module. Scheduling is
 * left to the kernel (SCHED_NONE: every worker accepts on the shared socket), so the primary costs
 * nothing per connection; a worker that dies is replaced.
 */
import cluster, { type Worker } from 'node:cluster';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { ChunkswarmError } from '../shared/errors.js';
import { formatAddress } from '../shared/types.js';
import { type MetricsSnapshot, sumSnapshots } from '../tracker/server/metrics.js';
import { isLoopbackHost, newToken } from '../web/guard.js';
import type { TrackerCommandOptions } from './tracker.js';

interface ListeningMessage {
  readonly type: 'listening';
  readonly udpAnnounceUrl: string | undefined;
  readonly udpWarning: string | undefined;
}

function isListening(m: unknown): m is ListeningMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'listening';
}

/** How long a stopping worker gets before it is killed. */
const STOP_GRACE_MS = 6000;
/** A worker that dies is replaced after this pause (a crash loop then costs little). */
const RESPAWN_MS = 1000;

export async function runPrimary(
  opts: TrackerCommandOptions,
  workers: number,
  env: { portEnv: string; tokenEnv: string },
): Promise<void> {
  // One clear line for a wrong URL or a Redis that is not there, rather than one per worker.
  const { RedisSwarmStore } = await import('../tracker/server/redis-store.js');
  await (await RedisSwarmStore.connect(opts.redis!)).close();
  const port = await pickPort(opts.host, opts.port, opts.udp !== false);
  const generated = opts.webToken === undefined && !isLoopbackHost(opts.host);
  const token = opts.webToken ?? (generated ? newToken() : '');
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  const live = new Set<Worker>();
  const fork = (): Worker => {
    const w = cluster.fork({ [env.portEnv]: String(port), [env.tokenEnv]: token });
    live.add(w);
    w.on('message', (m: unknown) => collectMetrics(w, m, live));
    return w;
  };

  const first = await new Promise<ListeningMessage>((resolve) => {
    let ready = 0;
    let firstMessage: ListeningMessage | undefined;
    for (let i = 0; i < workers; i++) {
      const w = fork();
      const onMessage = (m: unknown) => {
        if (!isListening(m)) return;
        w.off('message', onMessage);
        w.off('exit', onEarlyExit);
        firstMessage ??= m;
        if (++ready === workers) resolve(firstMessage);
      };
      // A worker that exits before it listens printed why (it shares our stderr): stop them all.
      const onEarlyExit = () => {
        stopping = true;
        for (const other of live) other.process.kill('SIGKILL');
        process.exit(1);
      };
      w.on('message', onMessage);
      w.once('exit', onEarlyExit);
    }
  });

  cluster.on('exit', (w, code, signal) => {
    live.delete(w);
    if (stopping) {
      if (live.size === 0) process.exit(0);
      return;
    }
    console.error(`warning: tracker worker ${w.process.pid} exited (${signal ?? code}); starting another`);
    setTimeout(() => {
      if (!stopping) fork();
    }, RESPAWN_MS).unref();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (live.size === 0) process.exit(0);
    for (const w of live) w.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of live) w.process.kill('SIGKILL');
      process.exit(0);
    }, STOP_GRACE_MS).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const origin = `http://${formatAddress(opts.host, port)}`;
  // The same lines as one process prints, in the same order (scripts wait for the first).
  console.log(`tracker listening on ${origin}/announce`);
  if (first.udpAnnounceUrl !== undefined) console.log(`tracker listening on ${first.udpAnnounceUrl}`);
  if (first.udpWarning !== undefined) console.error(`warning: ${first.udpWarning}`);
  console.log(`tracker page on ${origin}/`);
  if (generated)
    console.log(`tracker page token: ${token} (open ${origin}/?token=${token}; it is not shown again)`);
  console.log(
    `tracker workers: ${workers} processes on ${formatAddress(opts.host, port)} (primary pid ${process.pid})`,
  );
}

let nextCollection = 0;

/**
 * A worker serving /metrics asks for every worker's counters: collect them (a worker that does not
 * answer within a second is left out) and send back the sum.
 */
function collectMetrics(asker: Worker, m: unknown, live: ReadonlySet<Worker>): void {
  const msg = m as { type?: unknown; id?: unknown };
  if (msg?.type !== 'metrics-ask') return;
  const id = ++nextCollection;
  const parts: MetricsSnapshot[] = [];
  const workers = [...live];
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    for (const w of workers) w.off('message', onPart);
    if (asker.isConnected()) asker.send({ type: 'metrics-sum', id: msg.id, snapshot: sumSnapshots(parts) });
  };
  const onPart = (p: unknown) => {
    const part = p as { type?: unknown; id?: unknown; snapshot?: MetricsSnapshot };
    if (part?.type !== 'metrics-part' || part.id !== id || part.snapshot === undefined) return;
    parts.push(part.snapshot);
    if (parts.length === workers.length) finish();
  };
  const timer = setTimeout(finish, 1000);
  for (const w of workers) {
    w.on('message', onPart);
    if (w.isConnected()) w.send({ type: 'metrics-collect', id });
  }
}

/**
 * The port the workers will share: the one asked for, a free one for `0`, or 6969 and the next
 * free ones (as one process picks) when none was given. Free means TCP and, unless UDP is off, UDP.
 */
async function pickPort(host: string, asked: number | undefined, udp: boolean): Promise<number> {
  if (asked !== undefined && asked !== 0) return asked;
  const candidates = asked === 0 ? [0, 0, 0, 0, 0] : Array.from({ length: 20 }, (_, i) => 6969 + i);
  for (const c of candidates) {
    const tcp = await tryTcp(host, c);
    if (tcp === undefined) continue;
    if (!udp || (await tryUdp(host, tcp))) return tcp;
  }
  throw new ChunkswarmError('EUSAGE', `no free port for the tracker on ${host}; choose one with --port`);
}

function tryTcp(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ host, port, exclusive: true }, () => {
      const a = s.address();
      const got = typeof a === 'object' && a ? a.port : undefined;
      s.close(() => resolve(got));
    });
  });
}

function tryUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ address: host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}
