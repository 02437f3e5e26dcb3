import cluster from 'node:cluster';
import { ChunkswarmError } from '../shared/errors.js';
import { type AnySwarmStore, startTracker } from '../tracker/index.js';
import type { MetricsSnapshot, TrackerMetrics } from '../tracker/server/index.js';
import { isLoopbackHost, newToken } from '../web/guard.js';
import { TrackerWeb } from '../web/tracker-web.js';
import { onShutdown } from './signals.js';

/**
 * How long a request may take to arrive, in ms, when not the default (LIMITS.trackerRequestTimeoutMs):
 * tests use it to see slow clients cut off without waiting the full ten seconds.
 */
function requestTimeoutFromEnv(): number | undefined {
  const raw = process.env.CHUNKSWARM_TRACKER_REQUEST_TIMEOUT_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new ChunkswarmError(
      'EUSAGE',
      `CHUNKSWARM_TRACKER_REQUEST_TIMEOUT_MS must be a whole number of ms >= 1, not ${raw}`,
    );
  }
  return ms;
}

export interface TrackerCommandOptions {
  host: string;
  port?: number;
  interval: number;
  trustIpParam?: boolean;
  db?: string;
  /** `redis://HOST:PORT/DB`: swarms in Redis, shared by every tracker using it. */
  redis?: string;
  /** Processes sharing the port (Node cluster); more than one needs `redis`. */
  workers?: number;
  torrents?: string;
  webToken?: string;
  /** False with --no-udp. */
  udp?: boolean;
}

/** Set by the primary for its workers: the port they all serve, and the page token it printed. */
const WORKER_PORT_ENV = 'CHUNKSWARM_TRACKER_WORKER_PORT';
const WORKER_TOKEN_ENV = 'CHUNKSWARM_TRACKER_WORKER_TOKEN';

export async function trackerCommand(opts: TrackerCommandOptions): Promise<void> {
  const workers = opts.workers ?? 1;
  if (opts.db !== undefined && opts.redis !== undefined) {
    throw new ChunkswarmError('EUSAGE', 'use --db or --redis, not both: swarms live in one store');
  }
  if (workers > 1 && opts.redis === undefined) {
    throw new ChunkswarmError(
      'EUSAGE',
      `--workers ${workers} needs --redis: with ${opts.db === undefined ? 'the memory store' : '--db'} each worker would keep swarms of its own`,
    );
  }
  if (workers > 1 && cluster.isPrimary) {
    const { runPrimary } = await import('./tracker-workers.js');
    return runPrimary(opts, workers, { portEnv: WORKER_PORT_ENV, tokenEnv: WORKER_TOKEN_ENV });
  }
  const worker = workers > 1 && cluster.isWorker;
  let web: TrackerWeb | undefined;
  let store: AnySwarmStore | undefined;
  if (opts.db !== undefined) {
    // --db: swarms survive a restart. Loaded only when asked for: it brings a native module.
    const { SqliteSwarmStore } = await import('../tracker/server/sqlite-store.js');
    store = new SqliteSwarmStore(opts.db, { staleAfterMs: 2 * opts.interval * 1000 });
  } else if (opts.redis !== undefined) {
    const { RedisSwarmStore } = await import('../tracker/server/redis-store.js');
    store = await RedisSwarmStore.connect(opts.redis, {
      staleAfterMs: 2 * opts.interval * 1000,
      // One sweep per half expiry period for the whole fleet, not one per process.
      sweepEveryMs: Math.floor(Math.min(opts.interval * 1000, 60_000) / 2),
      client: {
        onStateChange: (up, reason) => {
          if (up) console.error(`tracker store: Redis ${reason}`);
          else
            console.error(
              `warning: tracker store: lost Redis (${reason}); answering "try again later" until it is back`,
            );
        },
      },
    });
  }
  let tracker: Awaited<ReturnType<typeof startTracker<AnySwarmStore>>>;
  // No --port: 6969, or the next free port when another tracker already has it (DESIGN.md). A
  // worker serves the port its primary chose.
  const ports = worker
    ? [Number(process.env[WORKER_PORT_ENV])]
    : opts.port === undefined
      ? Array.from({ length: 20 }, (_, i) => 6969 + i)
      : [opts.port];
  try {
    tracker = await firstFree(ports, (port) =>
      startTracker<AnySwarmStore>({
        host: opts.host,
        port,
        interval: opts.interval,
        trustIpParam: Boolean(opts.trustIpParam),
        store,
        requestTimeoutMs: requestTimeoutFromEnv(),
        udp: opts.udp !== false,
        // In a worker the handles layer takes the port from the cluster's primary (see tcp.ts).
        socketLayer: 'handles',
        sharedUdp: worker,
        metricsOf: worker ? fleetMetrics : undefined,
        // The page rebuilds its whole state on an event; with nobody watching (a page that connects
        // gets the state then) that is work on every announce for no one.
        onEvent: (e) => {
          if (web !== undefined && web.hub.size > 0) web.onTrackerEvent(e);
        },
      }),
    );
  } catch (err) {
    await store?.close();
    throw err;
  }
  // The page is open to this machine only by default; reachable from elsewhere, it needs a token.
  // Workers take the one their primary printed.
  const generated = opts.webToken === undefined && !isLoopbackHost(opts.host);
  const token = worker
    ? process.env[WORKER_TOKEN_ENV] || undefined
    : (opts.webToken ?? (generated ? newToken() : undefined));
  web = new TrackerWeb(tracker, {
    torrentsDir: opts.torrents,
    accessToken: token,
    allowedHosts: [opts.host],
    onWarning: (m) => console.error(`warning: ${m}`),
  });
  try {
    await web.start();
  } catch (err) {
    await tracker.close();
    await store?.close();
    throw err;
  }
  const page = tracker.announceUrl.replace(/announce$/, '');
  onShutdown(async () => {
    web?.close();
    await tracker.close();
    await store?.close();
  });
  if (worker) {
    answerMetricsCollection(tracker.metrics);
    // The primary prints the lines once every worker listens.
    process.send?.({
      type: 'listening',
      udpAnnounceUrl: tracker.udpAnnounceUrl,
      udpWarning: tracker.udpWarning,
    });
    return;
  }
  // The http line comes first and stays as it is: scripts wait for it.
  console.log(`tracker listening on ${tracker.announceUrl}`);
  if (tracker.udpAnnounceUrl !== undefined) console.log(`tracker listening on ${tracker.udpAnnounceUrl}`);
  if (tracker.udpWarning !== undefined) console.error(`warning: ${tracker.udpWarning}`);
  console.log(`tracker page on ${page}`);
  if (generated)
    console.log(`tracker page token: ${token} (open ${page}?token=${token}; it is not shown again)`);
}

/** Starts on the first port of `ports` that is free; any other failure, or the last one, is thrown. */
export async function firstFree<T>(
  ports: readonly number[],
  start: (port: number) => Promise<T>,
): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await start(ports[i]!);
    } catch (err) {
      const inUse =
        (err as NodeJS.ErrnoException).code === 'EADDRINUSE' || /EADDRINUSE|in use/i.test(String(err));
      if (!inUse || i === ports.length - 1) throw err;
    }
  }
}

// --- a worker's side of the counters (see tracker-workers.ts for the primary's) ---

let nextAsk = 0;

/** All workers' counters added up, from the primary; this worker's alone if it does not answer. */
function fleetMetrics(own: MetricsSnapshot): Promise<MetricsSnapshot> {
  const id = ++nextAsk;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      resolve(own);
    }, 2000);
    const onMessage = (m: unknown) => {
      const msg = m as { type?: unknown; id?: unknown; snapshot?: MetricsSnapshot };
      if (msg?.type !== 'metrics-sum' || msg.id !== id || msg.snapshot === undefined) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(msg.snapshot);
    };
    process.on('message', onMessage);
    process.send?.({ type: 'metrics-ask', id });
  });
}

/** Hands this worker's counters to the primary when it collects them. */
function answerMetricsCollection(metrics: TrackerMetrics): void {
  process.on('message', (m: unknown) => {
    const msg = m as { type?: unknown; id?: unknown };
    if (msg?.type === 'metrics-collect') {
      process.send?.({ type: 'metrics-part', id: msg.id, snapshot: metrics.snapshot() });
    }
  });
}
