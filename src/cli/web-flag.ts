import { join, resolve } from 'node:path';
import type { Metainfo } from '../metainfo/types.js';
import type { Client } from '../session/client.js';
import type { TorrentSession } from '../session/session.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { ChunkFolderStorage, FileStorage, type Storage } from '../storage/index.js';
import type { ConsoleRunner } from '../web/console.js';
import { type PeerWebHandle, startPeerWeb } from '../web/peer-web.js';
import { parseWebAddress } from './format.js';

export interface WebFlagParts {
  readonly client: Client;
  readonly command: 'download' | 'seed' | 'peer';
  /** Where the command prints its lines. */
  readonly log: (line: string) => void;
  /** Where a torrent added from the page is saved: `<out>/<name>` (download) or a memory folder (peer). */
  readonly saveTo?: { readonly files: string } | { readonly chunks: string };
  /** Told of a torrent added from the page once its session runs. */
  readonly onAdded?: (session: TorrentSession) => void;
  /** Told when the page starts fetching a magnet's metadata; what it returns is called when that ends. */
  readonly holdWhileFetching?: () => () => void;
  /** `--announce-ip`, for the trackers of a magnet added from the page. */
  readonly announceIp?: string;
  /** The shell of `chunkswarm peer`, for the page's console. */
  readonly shell?: { readonly session: TorrentSession; readonly run: ConsoleRunner };
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
      : async (metainfo: Metainfo, peers: readonly PeerAddress[] = []): Promise<TorrentSession> => {
          const storage: Storage =
            'files' in saveTo
              ? new FileStorage(metainfo, join(resolve(saveTo.files), metainfo.name))
              : new ChunkFolderStorage(metainfo, resolve(saveTo.chunks));
          const have = await storage.verifyExisting({ hasher: client.hasher });
          const session = client.addSession({ metainfo, storage, have, mode: 'auto' });
          log(`added ${metainfo.name} from the web page (${have.count}/${metainfo.pieceCount} chunks held)`);
          // A magnet without `tr=` makes a torrent without trackers: its peers are the ones it came with.
          if (metainfo.announceList.length > 0)
            session.connectTracker().catch((err) => log(`tracker: ${describeError(err)} (will retry)`));
          dialUntilComplete(session, peers);
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
      announceIp: parts.announceIp,
      addDisabled:
        'a seeder serves what it was started with: add torrents in `chunkswarm download --web` or `chunkswarm peer --web`',
      shell: parts.shell,
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

type PeerAddress = { readonly ip: string; readonly port: number };

/** How often the peers a magnet's metadata came from are dialled again while the download is incomplete. */
const REDIAL_MS = 15_000;

/** The peers a magnet's metadata came from, and its `x.pe` ones: nothing else would dial them again. */
function dialUntilComplete(session: TorrentSession, peers: readonly PeerAddress[]): void {
  if (peers.length === 0) return;
  const dial = (): void => {
    for (const p of peers)
      if (!session.isConnectedTo(p.ip, p.port)) session.connect(p.ip, p.port).catch(() => {});
  };
  dial();
  const redial = setInterval(() => (session.complete ? clearInterval(redial) : dial()), REDIAL_MS);
  redial.unref();
}
