/**
 * Tit-for-tat choking (BEP 3's "choking algorithm", as libtorrent and the reference client do it),
 * written as a pure function of the peers' state so it can be tested with a fake clock.
 *
 * Every 10 s the `regularSlots` interested peers that send to us fastest, counting what we owe them
 * (`tradeScore`; when seeding: that lack the most pieces) are unchoked; one more, the optimistic unchoke,
 * is rotated so newcomers get a chance to show what they can do. Between rechokes (session/choking.ts) a
 * newly interested peer is unchoked at once while a regular slot is free, and a vacant optimistic slot is
 * filled by a new draw (`pickOptimistic`).
 */
export interface ChokerPeer {
  readonly key: string;
  readonly interested: boolean;
  /** Bytes/s it sends us (leeching) — the tit-for-tat score. */
  readonly downloadRate: number;
  /** Bytes it has sent us beyond what we have sent it (0 when we are even or ahead): see `tradeScore`. */
  readonly owed?: number;
  /** Bytes/s we send it (seeding: breaks ties of `missing`). */
  readonly uploadRate: number;
  /** Pieces it lacks, as its bitfield and HAVEs say (seeding: the most get the regular slots). */
  readonly missing: number;
  readonly unchoked: boolean;
  /** When it connected, for the optimistic unchoke's preference for newcomers. */
  readonly connectedAt: number;
  /** Snubbed peers (nothing received for a minute while we want data) lose their regular slot. */
  readonly snubbed?: boolean;
  /** It holds no piece at all: it has nothing to trade, and only an optimistic unchoke lets it start. */
  readonly holdsNothing?: boolean;
}

export interface ChokerOptions {
  readonly regularSlots: number;
  readonly seeding: boolean;
  readonly now: number;
  /** Whether this round also rotates the optimistic unchoke. */
  readonly rotateOptimistic: boolean;
  /** The current optimistic peer, kept unless rotated. */
  readonly optimistic: string | undefined;
  readonly random: () => number;
}

export interface ChokeDecision {
  readonly unchoke: ReadonlySet<string>;
  readonly optimistic: string | undefined;
}

export function rechoke(peers: readonly ChokerPeer[], o: ChokerOptions): ChokeDecision {
  const interested = peers.filter((p) => p.interested);
  // A seeder wants nothing back: its upload finishes the swarm soonest where the most is missing, since the
  // swarm is done when its furthest-behind peer is. Ranked by our upload rate to each, a seeder kept serving
  // whoever it already served fastest, and so did every leecher once it finished: in a 50-leecher flash
  // crowd one leecher got 2 MiB/s and finished at 32 s while the last ones were unchoked by 3 to 5 peers.
  const ranked = interested
    .filter((p) => !p.snubbed)
    .sort(
      o.seeding
        ? (a, b) =>
            b.missing - a.missing || b.uploadRate - a.uploadRate || Number(b.unchoked) - Number(a.unchoked)
        : (a, b) => tradeScore(b) - tradeScore(a) || Number(b.unchoked) - Number(a.unchoked),
    );
  const unchoke = new Set(ranked.slice(0, o.regularSlots).map((p) => p.key));

  let optimistic = o.optimistic;
  const stillThere = interested.some((p) => p.key === optimistic && !unchoke.has(p.key));
  if (o.rotateOptimistic || !stillThere) {
    optimistic = pickOptimistic(
      interested.filter((p) => !unchoke.has(p.key) && p.key !== o.optimistic),
      o.now,
      o.random,
    );
    if (!optimistic && stillThere) optimistic = o.optimistic;
  }
  if (optimistic) unchoke.add(optimistic);
  return { unchoke, optimistic };
}

/** Seconds over which a leecher repays what a peer has sent it beyond what it sent back. */
const REPAY_SECONDS = 20;

/**
 * A leecher ranks peers by what they send it now plus a share of what it still owes them, as FairTorrent's
 * deficit rule does. By rate alone, a peer that gave us a lot while we had little to offer is choked as soon
 * as a faster sender appears, and a slow uplink that serves many of us at once never ranks first anywhere:
 * in a 300-peer flash crowd such peers uploaded two to three times what they received and finished last,
 * choked by 42 of their 44 neighbours. The debt shrinks as we repay it, and a peer cannot run it up with data
 * we never asked for: such blocks are struck, and a few of them ban the peer (session/verifying.ts).
 */
export function tradeScore(p: Pick<ChokerPeer, 'downloadRate' | 'owed'>): number {
  return p.downloadRate + (p.owed ?? 0) / REPAY_SECONDS;
}

/** A peer connected for less than this is a newcomer: it may not have had the chance to trade yet. */
const NEWCOMER_MS = 60_000;

export function isNewcomer(connectedAt: number, now: number): boolean {
  return now - connectedAt < NEWCOMER_MS;
}

/**
 * A weighted draw for the optimistic slot. Newcomers weigh three times as much, and a newcomer that holds
 * nothing nine times: it cannot trade yet, and in a flash crowd, where every peer is a newcomer, holding
 * nothing is what tells the peers that need the slot. Past its first minute an empty peer weighs as much
 * as any other: one that hides its pieces to look empty gains no more than a newcomer does.
 */
export function pickOptimistic(
  candidates: readonly Pick<ChokerPeer, 'key' | 'connectedAt' | 'holdsNothing'>[],
  now: number,
  random: () => number,
): string | undefined {
  const weights = candidates.map((p) => (!isNewcomer(p.connectedAt, now) ? 1 : p.holdsNothing ? 9 : 3));
  let r = random() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < candidates.length; i++) {
    r -= weights[i]!;
    if (r < 0) return candidates[i]!.key;
  }
  return undefined;
}

/** A seeder past its first pass stands aside while its upload could add less than this share (see below). */
export const ASIDE_SHARE = 1 / 16;
/** A peer that wants our pieces and has announced none for this long is served by a seeder standing aside. */
export const STARVING_MS = 3_000;

/**
 * Whether a seeder past its first pass stands aside: what it could upload (`capacity`, bytes per second)
 * would add less than ASIDE_SHARE to what its neighbours get from one another (`fromOthers`). Every piece
 * is out by then and the leechers pass them on; the seeder's bytes would only race theirs. In the bench's
 * 1 + 24 swarm (every uplink 4 MiB/s, so the seeder is 4% of the swarm's upload) it sent 0.13 copies of the
 * file after its pass, and in the simulator the leechers finished at the same times without them. Where the
 * seeder is a larger part of the swarm (a fast seeder, a few slow leechers) its bytes are what the swarm
 * waits for, and it serves on: the simulator's scenarios other than that shape never stand aside.
 */
export function seederStandsAside(capacity: number, fromOthers: number): boolean {
  return capacity > 0 && capacity < ASIDE_SHARE * (capacity + fromOthers);
}

/** A peer whose last piece (or connection, if it announced none) was STARVING_MS ago or more. */
export function isStarving(lastPieceAt: number, now: number): boolean {
  return now - lastPieceAt >= STARVING_MS;
}
