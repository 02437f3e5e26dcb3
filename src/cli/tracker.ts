import { ChunkswarmError } from '../shared/errors.js';
import { type SwarmStore, startTracker } from '../tracker/index.js';
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

export async function trackerCommand(opts: {
  host: string;
  port?: number;
  interval: number;
  trustIpParam?: boolean;
  db?: string;
  torrents?: string;
  webToken?: string;
  /** False with --no-udp. */
  udp?: boolean;
}): Promise<void> {
  let web: TrackerWeb | undefined;
  // --db: swarms survive a restart. Loaded only when asked for: it brings a native module.
  let store: SwarmStore | undefined;
  if (opts.db !== undefined) {
    const { SqliteSwarmStore } = await import('../tracker/server/sqlite-store.js');
    store = new SqliteSwarmStore(opts.db, { staleAfterMs: 2 * opts.interval * 1000 });
  }
  let tracker: Awaited<ReturnType<typeof startTracker>>;
  // No --port: 6969, or the next free port when another tracker already has it (DESIGN.md).
  const ports = opts.port === undefined ? Array.from({ length: 20 }, (_, i) => 6969 + i) : [opts.port];
  try {
    tracker = await firstFree(ports, (port) =>
      startTracker({
        host: opts.host,
        port,
        interval: opts.interval,
        trustIpParam: Boolean(opts.trustIpParam),
        store,
        requestTimeoutMs: requestTimeoutFromEnv(),
        udp: opts.udp !== false,
        // The page rebuilds its whole state on an event; with nobody watching (a page that connects
        // gets the state then) that is work on every announce for no one.
        onEvent: (e) => {
          if (web !== undefined && web.hub.size > 0) web.onTrackerEvent(e);
        },
      }),
    );
  } catch (err) {
    store?.close();
    throw err;
  }
  // The page is open to this machine only by default; reachable from elsewhere, it needs a token.
  const generated = opts.webToken === undefined && !isLoopbackHost(opts.host);
  const token = opts.webToken ?? (generated ? newToken() : undefined);
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
    store?.close();
    throw err;
  }
  const page = tracker.announceUrl.replace(/announce$/, '');
  // The http line comes first and stays as it is: scripts wait for it.
  console.log(`tracker listening on ${tracker.announceUrl}`);
  if (tracker.udpAnnounceUrl !== undefined) console.log(`tracker listening on ${tracker.udpAnnounceUrl}`);
  if (tracker.udpWarning !== undefined) console.error(`warning: ${tracker.udpWarning}`);
  console.log(`tracker page on ${page}`);
  if (generated)
    console.log(`tracker page token: ${token} (open ${page}?token=${token}; it is not shown again)`);
  onShutdown(async () => {
    web?.close();
    await tracker.close();
    store?.close();
  });
}

/** Starts on the first port of `ports` that is free; any other failure, or the last one, is thrown. */
async function firstFree<T>(ports: readonly number[], start: (port: number) => Promise<T>): Promise<T> {
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
