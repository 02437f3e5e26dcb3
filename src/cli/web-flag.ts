import { resolve } from 'node:path';
import type { Metainfo } from '../metainfo/types.js';
import { PeerConnection, UT_METADATA_ID } from '../peer/connection.js';
import { TraceBook } from '../peer/trace.js';
import type { Client } from '../session/client.js';
import type { TorrentSession } from '../session/session.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { ChunkFolderStorage } from '../storage/index.js';
import type { ConsoleRunner } from '../web/console.js';
import { type PeerWebHandle, startPeerWeb } from '../web/peer-web.js';
import { UT_METADATA } from '../wire/index.js';
import { parseWebAddress } from './format.js';
import { logTrackerState } from './tracker-log.js';

export interface WebFlagParts {
  readonly client: Client;
  readonly command: 'download' | 'seed' | 'peer';
  /** Where the command prints its lines. */
  readonly log: (line: string) => void;
  /**
   * Where a torrent added from the page goes: a chunk folder (peer), or the command's own way of
   * opening a torrent (download: under --out, with its resume data).
   */
  readonly saveTo?:
    | { readonly chunks: string }
    | { readonly open: (metainfo: Metainfo) => Promise<TorrentSession> };
  /** Told of a torrent added from the page once its session runs. */
  readonly onAdded?: (session: TorrentSession) => void;
  /** Told when the page starts fetching a magnet's metadata; what it returns is called when that ends. */
  readonly holdWhileFetching?: () => () => void;
  /** The shell of `chunkswarm peer`, for the page's console. */
  readonly shell?: { readonly session: TorrentSession; readonly run: ConsoleRunner };
  /** `--trace` (from startTraceFlag): the page gets its Wire panel. */
  readonly trace?: TraceBook;
}

/**
 * `--trace`: from now on every connection the process makes or accepts records its messages, both ways,
 * for the peer page's Wire panel. Call it before the first connection. Only the page shows a trace, so
 * without --web it is refused, as --web-token is.
 */
export function startTraceFlag(trace: boolean | undefined, web: string | undefined): TraceBook | undefined {
  if (!trace) return undefined;
  if (web === undefined) throw new ChunkswarmError('EUSAGE', '--trace goes with --web HOST:PORT');
  // Peers send ut_metadata under the id we gave in our extension handshake (BEP 10).
  const book = new TraceBook({ ours: new Map([[UT_METADATA_ID, UT_METADATA]]) });
  PeerConnection.traceWith = (conn) => book.tracerFor(conn);
  return book;
}

/**
 * `--web HOST:PORT` (and `--web-token`): starts the peer page and prints where it is. Without
 * --web it does nothing, and a --web-token alone is refused rather than ignored.
 */
export async function startWebFlag(
  web: string | undefined,
  token: string | undefined,
  parts: WebFlagParts,
): Promise<PeerWebHandle | undefined> {
  if (web === undefined) {
    if (token !== undefined) throw new ChunkswarmError('EUSAGE', '--web-token goes with --web HOST:PORT');
    return undefined;
  }
  const { host, port } = parseWebAddress(web);
  const { client, log, saveTo } = parts;
  const addTorrent =
    saveTo === undefined
      ? undefined
      : async (metainfo: Metainfo): Promise<TorrentSession> => {
          let session: TorrentSession;
          if ('open' in saveTo) session = await saveTo.open(metainfo);
          else {
            const storage = new ChunkFolderStorage(metainfo, resolve(saveTo.chunks));
            const have = await storage.verifyExisting({ hasher: client.hasher });
            session = await client.add({ metainfo }, { storage, have, mode: 'auto' });
          }
          log(
            `added ${metainfo.name} from the web page (${session.have.count}/${metainfo.pieceCount} chunks held)`,
          );
          // A magnet without `tr=` makes a torrent without trackers (connectTracker then does nothing): its
          // peers are the ones it came with, handed over by the page (Client.handOver).
          logTrackerState(session, log);
          session.connectTracker().catch(() => {});
          parts.onAdded?.(session);
          return session;
        };
  let handle: PeerWebHandle;
  try {
    handle = await startPeerWeb({
      client,
      command: parts.command,
      host,
      port,
      accessToken: token,
      addTorrent,
      holdWhileFetching: parts.holdWhileFetching,
      log,
      addDisabled:
        'a seeder serves what it was started with: add torrents in `chunkswarm download --web` or `chunkswarm peer --web`',
      shell: parts.shell,
      trace: parts.trace,
    });
  } catch (err) {
    throw new ChunkswarmError('EUSAGE', `cannot serve the web page on ${web}: ${describeError(err)}`);
  }
  log(`web page on ${handle.url}`);
  if (handle.generatedToken) {
    log(
      `web page token: ${handle.accessToken} (open ${handle.url}?token=${handle.accessToken}; it is not shown again)`,
    );
  }
  return handle;
}
