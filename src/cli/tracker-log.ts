import type { TorrentSession } from '../session/session.js';
import { formatDuration } from './format.js';

/**
 * Tells the user what the trackers are doing: each failed announce with the time of the next try, and the
 * first answer after failures. Nothing while all is well (the progress line shows the peers).
 */
export function logTrackerState(session: TorrentSession, log: (line: string) => void): void {
  let failing = false;
  session.events.on('announce-failed', (reason, retryInMs) => {
    failing = true;
    log(`tracker: ${reason} (next try in ${formatDuration(retryInMs / 1000)})`);
  });
  session.events.on('announce', (answer) => {
    if (!failing) return;
    failing = false;
    log(`tracker: ${answer.url} answered: ${answer.peers.length} peer(s)`);
  });
}
