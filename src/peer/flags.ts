import type { PeerSource } from '../shared/status.js';

/**
 * The one-letter peer flags Transmission shows in its peer list, so a user who knows them reads our
 * peer page at a glance. Pure: the session knows the state, this only spells it.
 */
export interface PeerFlagState {
  /** We choke the peer / it chokes us; we are interested in it / it is interested in us (BEP 3). */
  readonly amChoking: boolean;
  readonly peerChoking: boolean;
  readonly amInterested: boolean;
  readonly peerInterested: boolean;
  /** Blocks are arriving from / leaving for the peer right now (a non-zero rate, or requests in flight). */
  readonly downloading: boolean;
  readonly uploading: boolean;
  /** The peer holds our optimistic unchoke slot. */
  readonly optimistic?: boolean;
  /** The peer dialled us. */
  readonly incoming?: boolean;
  /** Where we heard of the peer. */
  readonly source?: PeerSource;
}

/** Every flag with its meaning, in the order they are written, for a legend. */
export const PEER_FLAG_LEGEND: readonly (readonly [string, string])[] = [
  ['O', 'optimistic unchoke'],
  ['D', 'downloading from this peer'],
  ['d', 'we would download, but the peer chokes us'],
  ['U', 'uploading to this peer'],
  ['u', 'the peer would download, but we choke it'],
  ['K', 'the peer unchoked us, but we are not interested'],
  ['?', 'we unchoked the peer, but it is not interested'],
  ['H', 'found through DHT'],
  ['X', 'found through peer exchange'],
  ['I', 'incoming connection'],
];

/** The flags of one peer, e.g. `DUI` or `d?`. */
export function peerFlags(s: PeerFlagState): string {
  let out = '';
  if (s.optimistic) out += 'O';
  if (s.downloading && !s.peerChoking) out += 'D';
  else if (s.amInterested) out += 'd';
  if (s.uploading && !s.amChoking) out += 'U';
  else if (s.peerInterested) out += 'u';
  if (!s.peerChoking && !s.amInterested) out += 'K';
  if (!s.amChoking && !s.peerInterested) out += '?';
  if (s.source === 'dht') out += 'H';
  else if (s.source === 'pex') out += 'X';
  if (s.incoming || s.source === 'incoming') out += 'I';
  return out;
}
