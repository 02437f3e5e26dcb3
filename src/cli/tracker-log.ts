import type { TorrentSession } from '../session/session.js';
import { countOf, formatDuration } from './format.js';

/**
 * Tells the user what the trackers are doing: each failed announce with the time of the next try, and the
 * first answer after failures. Otherwise nothing while all is well (a download's progress line shows the
 * peers), except with `first`: the first answer too, for a front end that has no such line (a seeder's log).
 */
export function logTrackerState(
  session: TorrentSession,
  log: (line: string) => void,
  opts: { first?: boolean } = {},
): void {
  let tell = opts.first === true;
  session.events.on('announce-failed', (reason, retryInMs) => {
    tell = true;
    log(`tracker: ${reason}; next try in ${formatDuration(retryInMs / 1000)}`);
  });
  session.events.on('announce', (answer) => {
    if (!tell) return;
    tell = false;
    log(`tracker: ${answer.url} answered: ${countOf(answer.peers.length, 'peer')}`);
  });
}
