import { ChunkswarmError } from '../shared/errors.js';

/** The peer page arrives with the dashboards; until then --web is refused plainly rather than ignored. */
export function refuseWeb(web: string | undefined): void {
  if (web !== undefined) throw new ChunkswarmError('EUSAGE', '--web is not available yet: the peer page is still being built');
}
