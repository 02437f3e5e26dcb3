/**
 * What a torrent looks like right now, as plain data: the progress line, the shell's `/status`, the peer
 * page and `/status` over HTTP read this, never the live connections. It also says, in one line, what a
 * stalled download is waiting for.
 */
import { dataLength, paddingHeld } from '../metainfo/index.js';
import type { PeerConnection } from '../peer/connection.js';
import type {
  PeerStatus,
  SessionMode,
  TorrentFigures,
  TorrentProgress,
  TorrentStatus,
  TrackerStatus,
  WebSeedStatus,
} from '../shared/status.js';
import { compareAddresses } from '../shared/types.js';
import type { TorrentSession } from './session.js';

export type { PeerStatus, TorrentProgress, TorrentStatus, TrackerStatus } from '../shared/status.js';

export function peerStatus(s: TorrentSession, p: PeerConnection): PeerStatus {
  return {
    address: p.peerAddress,
    client: p.clientName,
    source: p.source,
    seeder: p.isSeeder,
    have: Math.min(p.bits?.count ?? 0, s.pieceCount),
    amChoking: p.amChoking,
    amInterested: p.amInterested,
    peerChoking: p.peerChoking,
    peerInterested: p.peerInterested,
    optimistic: s.choking.optimistic === p.address,
    snubbed: s.choking.isSnubbed(p),
    silent: s.requesting.isSilent(p),
    downRate: p.down.current,
    upRate: p.up.current,
    requests: p.inFlight.size,
    requesting: [...new Set([...p.inFlight.values()].map((r) => r.block.index))].sort((a, b) => a - b),
    downloaded: p.down.total,
    uploaded: p.up.total,
  };
}

export function torrentStatus(s: TorrentSession): TorrentStatus {
  const tracker = trackerStatus(s);
  const peers = [...s.peers.values()]
    .map((p) => peerStatus(s, p))
    .sort((x, y) => compareAddresses(x.address, y.address));
  return {
    ...figures(s, tracker),
    complete: s.complete,
    paused: s.paused,
    mode: s.mode,
    downloaded: s.downloaded,
    uploaded: s.uploaded,
    peers,
    tracker,
    seeding: seedingWords(s),
    notConnected: s.dialling.notConnected(),
    webSeeds: s.webSeeding.status(),
  };
}

/**
 * The progress line's figures, without the peers' views and the peers not connected (a `download` of 24
 * peers spent 1.7% of its CPU making the whole status twice a second for a line that counts its peers).
 */
export function torrentProgress(s: TorrentSession): TorrentProgress {
  return { ...figures(s, trackerStatus(s)), peerCount: s.peers.size, webSeedCount: s.webSeeding.inUse };
}

function figures(s: TorrentSession, tracker: TrackerStatus): TorrentFigures {
  return {
    infoHash: s.metainfo.infoHashHex,
    name: s.metainfo.name,
    ...bytesInFiles(s),
    pieceCount: s.pieceCount,
    have: s.have.count,
    downRate: s.down.current,
    upRate: s.up.current,
    waitingFor: stallOf(s, tracker),
  };
}

/**
 * The torrent's size and the bytes verified, counted in its files: the zeros of BEP 47 padding are in the
 * pieces but on nobody's disk, so a padded torrent shows what its files hold (as `info` does).
 */
export function bytesInFiles(s: TorrentSession): { size: number; done: number } {
  const m = s.metainfo;
  const held = m.totalLength - s.left;
  if (!m.padding) return { size: m.totalLength, done: held };
  return { size: dataLength(m), done: held - paddingHeld(m, (i) => s.have.has(i)) };
}

function trackerStatus(s: TorrentSession): TrackerStatus {
  const a = s.announcing;
  return {
    state: !a.active ? 'off' : a.failures > 0 ? 'failing' : a.reachable ? 'ok' : 'waiting',
    lastError: a.lastError,
    nextAt: a.nextAt,
    peers: a.last?.peers.length ?? 0,
  };
}

/** What the session waits for (see waitingFor), from its pieces, its peers and its tracker. */
function stallOf(s: TorrentSession, tracker: TrackerStatus): string | undefined {
  const missing: number[] = [];
  for (let i = 0; i < s.pieceCount; i++)
    if (!s.have.has(i) && s.picker.availability(i) === 0) missing.push(i);
  const useful = [...s.peers.values()].filter((p) => s.picker.interesting(s.bitsOf(p)));
  return waitingFor({
    // Done with the files asked for: nothing to wait for.
    complete: s.done,
    mode: s.mode,
    paused: s.paused,
    failure: s.failure,
    peers: s.peers.size,
    hasTrackers: s.hasTrackers,
    tracker,
    now: s.clock.now(),
    nobodyHas: missing,
    usefulPeers: useful.length,
    usefulUnchoking: useful.filter((p) => !p.peerChoking).length,
    usefulSilent: useful.filter((p) => !p.peerChoking && s.requesting.isSilent(p)).length,
    downRate: s.down.current,
    webSeeds: s.webSeeding.status(),
  });
}

export interface StallInput {
  readonly complete: boolean;
  readonly mode: SessionMode;
  readonly paused: boolean;
  readonly failure: string | undefined;
  readonly peers: number;
  readonly hasTrackers: boolean;
  readonly tracker: TrackerStatus;
  readonly now: number;
  /** Missing chunks that no connected peer holds. */
  readonly nobodyHas: readonly number[];
  /** Connected peers holding something we lack, and how many of them let us ask. */
  readonly usefulPeers: number;
  readonly usefulUnchoking: number;
  /** Of those that let us ask, the ones that stopped answering our requests. */
  readonly usefulSilent: number;
  readonly downRate: number;
  /** The download's BEP 19 web seeds (none for most torrents). */
  readonly webSeeds?: readonly WebSeedStatus[];
}

/** In one line, what a download that does not move is waiting for (pure: tested case by case). */
export function waitingFor(x: StallInput): string | undefined {
  if (x.complete || x.mode !== 'auto') return undefined;
  if (x.failure) return x.failure;
  if (x.paused) return 'paused';
  const next =
    x.tracker.nextAt === undefined ? '' : `, next try in ${secondsUntil(x.tracker.nextAt, x.now)} s`;
  // Bytes coming in from no peer at all come from a web seed (BEP 19): nothing is stalled.
  if (x.downRate > 0) return undefined;
  const webSeeds = x.webSeeds ?? [];
  if (x.peers === 0 && webSeeds.length > 0) {
    if (webSeeds.some((w) => w.state === 'fetching' || w.state === 'idle')) return undefined;
    const failing = webSeeds.find((w) => w.state === 'retrying');
    if (failing)
      return `no peers, and web seed ${failing.url} failed: ${failing.lastError}, next try in ${secondsUntil(failing.retryAt ?? x.now, x.now)} s`;
  }
  if (x.peers === 0) {
    if (x.tracker.state === 'failing')
      return `no peers: ${x.tracker.lastError ?? 'the tracker did not answer'}${next}`;
    if (x.tracker.state === 'waiting') return 'no peers yet: waiting for the tracker';
    if (x.tracker.state === 'ok' && x.tracker.peers === 0)
      // Whoever announces after us is told our address and dials us: the interval is not a wait for peers.
      return `no peers yet: the tracker knows no other peer, and peers that announce later will connect to us${next.replace('try', 'announce')}`;
    if (!x.hasTrackers) return 'no peers: the torrent names no tracker, and no peer has connected';
    return 'no peers connected';
  }
  if (x.nobodyHas.length > 0 && x.usefulPeers === 0)
    return `no connected peer has ${describeChunks(x.nobodyHas)}`;
  if (x.usefulPeers === 0) return 'no connected peer has a chunk we lack';
  if (x.usefulUnchoking === 0)
    return x.usefulPeers === 1
      ? 'the one peer with chunks we lack chokes us (waiting for an unchoke)'
      : `all ${x.usefulPeers} peers with chunks we lack choke us (waiting for an unchoke)`;
  if (x.nobodyHas.length > 0) return `no connected peer has ${describeChunks(x.nobodyHas)}`;
  if (x.usefulSilent === x.usefulUnchoking) {
    return x.usefulSilent === 1
      ? 'the one peer with chunks we lack stopped sending (waiting for it to resume or for another peer)'
      : `all ${x.usefulSilent} peers with chunks we lack stopped sending (waiting for them to resume or for another peer)`;
  }
  return undefined;
}

/** "chunk 7", "chunks 3, 7 and 9", "chunks 3, 7, 9 and 12 more". */
export function describeChunks(chunks: readonly number[]): string {
  if (chunks.length === 1) return `chunk ${chunks[0]}`;
  const shown = chunks.slice(0, 3);
  const rest = chunks.length - shown.length;
  return rest > 0
    ? `chunks ${shown.join(', ')} and ${rest} more`
    : `chunks ${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}`;
}

/**
 * What a seeder that held the torrent from the start is doing, in words: its first pass (`steering` is true
 * only then) or standing aside after it; nothing in the shell's manual moves.
 */
function seedingWords(s: TorrentSession): string | undefined {
  if (s.mode === 'manual') return undefined;
  if (s.choking.steering === true)
    return `first pass: ${s.choking.distributor.sentCount} of ${s.pieceCount} chunks sent once`;
  // Once every leecher is done nobody asks for anything: there is no one to stand aside from.
  if (s.choking.standingAside && s.interestedCount() > 0)
    return 'standing aside: the leechers pass every chunk on, so only peers that get nothing elsewhere are served';
  return undefined;
}

/** What a seeder's log says when it stands aside after its first pass, or steps back in (Choking). */
export function standingAsideWords(aside: boolean): string {
  return aside
    ? 'every chunk is out and the leechers pass them on: standing aside, serving only peers that get nothing elsewhere'
    : 'stepping back in: the swarm needs our upload again';
}

/** What a seeder's log says when the last peer that wanted a piece of ours has it all ('all-served'). */
export const ALL_SERVED_WORDS =
  'every connected peer has every chunk it wants: nothing to send until someone asks';

/** The tracker part of `/status`: connected, or why not and when it is tried again. */
export function trackerWords(t: TrackerStatus, now: number): string {
  if (t.state === 'off') return 'not connected';
  if (t.state === 'ok') return 'connected';
  const next = t.nextAt === undefined ? '' : `, next try in ${secondsUntil(t.nextAt, now)} s`;
  return t.state === 'failing' ? `not reachable (${t.lastError ?? 'no reply'}${next})` : 'connecting';
}

/** Whole seconds from `now` to `at` (ms), never negative: how the next tracker try is told. */
function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}
