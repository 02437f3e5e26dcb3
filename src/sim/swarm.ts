/**
 * A swarm built from a scenario: real chunkswarm Clients (session, picker, choker, wire codec) on a
 * SimNetwork, announcing to a SimTracker, all on one FakeClock. `run` moves the clock from event to event
 * until every leecher that is meant to finish has, or the scenario's time cap, and records each peer's
 * progress as it goes.
 */
import { performance } from 'node:perf_hooks';
import { pieceSize } from '../metainfo/index.js';
import { Client } from '../session/client.js';
import type { TorrentSession } from '../session/session.js';
import { Bitfield } from '../shared/bitfield.js';
import { FakeClock } from '../shared/clock.js';
import { seededRandom } from '../shared/env.js';
import { PieceHasher } from '../storage/hasher.js';
import { MemoryStorage, type Storage } from '../storage/index.js';
import { ComparingHasher, CorruptingStorage, SimContent, SyntheticStorage } from './content.js';
import { SimNetwork } from './network.js';
import type { PeerGroup, PeerRole, Scenario } from './scenario.js';
import { SimTracker } from './tracker.js';

export const SIM_PORT = 6881;

export interface SimPeer {
  readonly name: string;
  readonly role: PeerRole;
  readonly address: string;
  readonly group: PeerGroup;
  /** Bytes/s, Infinity when unlimited. */
  readonly up: number;
  readonly down: number;
  readonly joinAt: number;
  client: Client | undefined;
  session: TorrentSession | undefined;
  storage: Storage | undefined;
  joinedAt: number | undefined;
  completedAt: number | undefined;
  leftAt: number | undefined;
  /** [virtual seconds, fraction of pieces held]. */
  readonly samples: [number, number][];
  uploaded: number;
  downloaded: number;
  /** Pieces it held that were not the content, counted when it left (or at the end). */
  badPieces: number | undefined;
}

export interface SimResult {
  readonly scenario: string;
  readonly hasher: 'sha1' | 'compare';
  readonly peers: number;
  readonly leechers: number;
  readonly torrentBytes: number;
  readonly pieceCount: number;
  /** Every leecher meant to finish did. */
  readonly allComplete: boolean;
  readonly incomplete: number;
  /** Virtual seconds from the first leecher's join to the last one's completion. */
  readonly lastFinish: number | undefined;
  /** The fluid bound T* (see fluidBound), s. */
  readonly fluidBound: number;
  /** T* / lastFinish. */
  readonly efficiency: number | undefined;
  /** Bytes the seeders sent, in copies of the torrent. */
  readonly seederCopies: number;
  /** uploaded / downloaded across finished leechers. */
  readonly shareRatio: { min: number; median: number; max: number };
  readonly medianFinish: number | undefined;
  /** Free riders' completion, s after the first join (undefined: not finished). */
  readonly freeRiderFinish: (number | undefined)[];
  /** Addresses of corrupt peers, and how many sessions banned each. */
  readonly corruptBans: { address: string; bannedBy: number }[];
  readonly hashFailures: number;
  /** Pieces written that were not the content (must be 0). */
  readonly badPieces: number;
  readonly virtualSeconds: number;
  readonly wallSeconds: number;
  /** Clock steps taken (virtual milliseconds with work) and network events run. */
  readonly clockSteps: number;
  readonly networkEvents: number;
}

const KiB = 1024;
const rate = (kib: number): number => (kib > 0 ? kib * KiB : Number.POSITIVE_INFINITY);

/** `127.a.b.c` for peer n (from 1): labels only, nothing is sent on a network. */
export function simAddress(n: number): string {
  return `127.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

export class Swarm {
  readonly clock = new FakeClock(0);
  readonly net: SimNetwork;
  readonly tracker: SimTracker;
  readonly content: SimContent;
  readonly peers: SimPeer[] = [];
  readonly scenario: Scenario;
  clockSteps = 0;
  #joinsPending = 0;
  /** Leechers meant to finish that have not yet. */
  #unfinished = 0;
  #wallStart = 0;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    this.net = new SimNetwork(this.clock);
    this.tracker = new SimTracker(this.clock, {
      latencyMs: scenario.trackerLatencyMs,
      interval: scenario.trackerInterval,
      minInterval: scenario.trackerMinInterval,
    });
    this.content = new SimContent({
      totalBytes: Math.round(scenario.sizeMiB * 1024 * KiB),
      pieceLength: scenario.pieceKiB * KiB,
      seed: scenario.seed,
      name: `${scenario.name}.bin`,
    });
    let n = 1;
    for (const group of scenario.groups) {
      for (let i = 0; i < group.count; i++, n++) {
        const spread = group.count > 1 ? (group.joinSpread * i) / (group.count - 1) : 0;
        this.peers.push({
          name: `${group.role}-${i + 1}`,
          role: group.role,
          address: simAddress(n),
          group,
          up: rate(group.upKiBps),
          down: rate(group.downKiBps),
          joinAt: (group.joinAt + spread) * 1000,
          client: undefined,
          session: undefined,
          storage: undefined,
          joinedAt: undefined,
          completedAt: undefined,
          leftAt: undefined,
          samples: [],
          uploaded: 0,
          downloaded: 0,
          badPieces: undefined,
        });
      }
    }
  }

  get metainfo() {
    return this.content.metainfo;
  }

  /** Leechers (and free riders) meant to finish: those that do not leave on a timer. */
  get finishers(): SimPeer[] {
    return this.peers.filter(
      (p) => (p.role === 'leecher' || p.role === 'free-rider') && p.group.leaveAfter === undefined,
    );
  }

  /** Schedules every join; `run` then moves the clock. */
  start(): void {
    this.#unfinished = this.finishers.length;
    for (const p of this.peers) {
      this.#joinsPending++;
      this.clock.setTimeout(() => {
        this.#joinsPending--;
        void this.join(p);
      }, p.joinAt);
    }
    this.clock.setInterval(() => this.#sample(), this.scenario.sampleEvery * 1000);
  }

  /** Starts a peer: its host on the network, its Client, its session, its first announce. */
  async join(p: SimPeer): Promise<void> {
    const s = this.scenario;
    const net = this.net.addHost(p.address, { up: p.up, down: p.down, latencyMs: s.latencyMs });
    const metainfo = this.metainfo;
    const complete = p.role === 'seeder' || p.role === 'corrupt';
    const have = complete ? Bitfield.full(metainfo.pieceCount) : new Bitfield(metainfo.pieceCount);
    let storage: Storage;
    if (s.hasher === 'compare' || complete) storage = new SyntheticStorage(this.content, have);
    else storage = new MemoryStorage(metainfo);
    if (p.role === 'corrupt') storage = new CorruptingStorage(storage);
    const client = new Client({
      env: { clock: this.clock, random: seededRandom(s.seed * 7919 + this.peers.indexOf(p)), net },
      hasher:
        s.hasher === 'compare'
          ? new ComparingHasher(this.content)
          : new PieceHasher({ inlineBelow: Number.POSITIVE_INFINITY }),
      host: p.address,
      port: SIM_PORT,
      maxPeers: s.maxPeers,
      // The free rider takes requests and never serves them: a budget of one byte a second.
      uploadLimit: p.role === 'free-rider' ? 1 : 0,
    });
    p.client = client;
    p.storage = storage;
    p.joinedAt = this.clock.now();
    await client.listen();
    const session = client.addSession({
      metainfo,
      storage,
      have,
      mode: complete ? 'seed' : 'auto',
      announcer: this.tracker.announcerFor({
        ip: p.address,
        port: client.port,
        peerId: client.peerId,
        infoHash: metainfo.infoHash,
      }),
      uploadSlots: s.uploadSlots,
      superSeed: s.superSeeding,
    });
    p.session = session;
    p.samples.push([this.clock.now() / 1000, session.have.count / metainfo.pieceCount]);
    session.events.on('complete', () => {
      p.completedAt = this.clock.now();
      if (this.finishers.includes(p)) this.#unfinished--;
      p.samples.push([p.completedAt / 1000, 1]);
      if (p.group.seedFor !== undefined)
        this.clock.setTimeout(() => void this.leave(p, p.group.leaveHow), p.group.seedFor * 1000);
    });
    if (p.group.leaveAfter !== undefined)
      this.clock.setTimeout(() => void this.leave(p, p.group.leaveHow), p.group.leaveAfter * 1000);
    session.connectTracker().catch(() => {});
  }

  /** `stop`: announces `stopped` and closes its connections; `crash`: its host goes silent. */
  async leave(p: SimPeer, how: 'stop' | 'crash'): Promise<void> {
    if (!p.client || p.leftAt !== undefined) return;
    p.leftAt = this.clock.now();
    this.#keepTotals(p);
    p.badPieces = await this.#badPieces(p);
    if (how === 'crash') this.net.kill(p.address, 'silent');
    await p.client.close({ announce: how === 'stop' });
    if (how === 'stop') this.net.kill(p.address, 'reset');
  }

  #keepTotals(p: SimPeer): void {
    if (!p.session) return;
    p.uploaded = p.session.uploaded;
    p.downloaded = p.session.downloaded;
  }

  #sample(): void {
    const t = this.clock.now() / 1000;
    const n = this.metainfo.pieceCount;
    for (const p of this.peers) {
      if (!p.session || p.leftAt !== undefined) continue;
      const f = p.session.have.count / n;
      const last = p.samples[p.samples.length - 1];
      if (!last || last[1] !== f) p.samples.push([t, f]);
    }
  }

  get done(): boolean {
    return this.#joinsPending === 0 && this.#unfinished === 0;
  }

  /** Moves the clock until `done` (or `until`) or the time cap; returns the figures. */
  async run(opts: { until?: () => boolean; capMs?: number } = {}): Promise<SimResult> {
    this.#wallStart = performance.now();
    const cap = opts.capMs ?? this.scenario.capSeconds * 1000;
    const stop = opts.until ?? (() => this.done);
    await this.advanceUntil(stop, cap);
    this.#sample();
    return this.result();
  }

  /**
   * Fires the clock's timers in order; after each virtual millisecond with work, lets the promise chains
   * it started settle (as real timers would), so the sessions' `await`s run in between.
   */
  async advanceUntil(stop: () => boolean, capMs: number): Promise<void> {
    await settle();
    while (!stop()) {
      const next = this.clock.nextAt();
      if (next === undefined || next > capMs) break;
      this.clock.advance(next - this.clock.now());
      this.clockSteps++;
      await settle();
    }
  }

  /** Closes every client (no announces); what is left on the clock never runs. */
  async close(): Promise<void> {
    for (const p of this.peers) {
      if (p.client && p.leftAt === undefined) {
        this.#keepTotals(p);
        await p.client.close({ announce: false });
      }
    }
  }

  /** Pieces held by leechers that are not byte for byte the content (0 when all is well). */
  async badPieces(): Promise<number> {
    let bad = 0;
    for (const p of this.peers) bad += p.badPieces ?? (await this.#badPieces(p));
    return bad;
  }

  async #badPieces(p: SimPeer): Promise<number> {
    const st = p.storage;
    if (!st || p.role === 'seeder' || p.role === 'corrupt') return 0;
    if (st instanceof SyntheticStorage) return st.mismatches;
    let bad = 0;
    if (st instanceof MemoryStorage) {
      for (const i of st.held()) {
        const data = await st.read(i, 0, pieceSize(this.metainfo, i));
        if (!this.content.matches(i, data)) bad++;
      }
    }
    return bad;
  }

  /** T* = max(F/u_seed, N·F/(u_seed + Σ u_leechers), F/min download), s (see ARCHITECTURE.md). */
  fluidBound(): number {
    const F = this.content.totalBytes;
    const seeders = this.peers.filter((p) => p.role === 'seeder' && p.joinAt === 0);
    const leechers = this.peers.filter((p) => p.role === 'leecher' || p.role === 'free-rider');
    const uSeed = seeders.reduce((a, p) => a + p.up, 0);
    // A free rider's upload is worth nothing to the swarm.
    const uLeech = leechers.reduce((a, p) => a + (p.role === 'free-rider' ? 0 : p.up), 0);
    const minDown = Math.min(...leechers.map((p) => p.down));
    return Math.max(F / uSeed, (leechers.length * F) / (uSeed + uLeech), F / minDown);
  }

  async result(): Promise<SimResult> {
    const wallSeconds = (performance.now() - this.#wallStart) / 1000;
    for (const p of this.peers) if (p.leftAt === undefined) this.#keepTotals(p);
    const F = this.content.totalBytes;
    const finishers = this.finishers;
    const firstJoin = Math.min(
      ...this.peers.filter((p) => p.role === 'leecher' || p.role === 'free-rider').map((p) => p.joinAt),
    );
    const done = finishers.filter((p) => p.completedAt !== undefined);
    const times = done.map((p) => (p.completedAt! - firstJoin) / 1000).sort((a, b) => a - b);
    const lastFinish =
      done.length === finishers.length && times.length > 0 ? times[times.length - 1] : undefined;
    const T = this.fluidBound();
    const honest = done.filter((p) => p.role === 'leecher');
    const ratios = honest
      .map((p) => (p.downloaded > 0 ? p.uploaded / p.downloaded : 0))
      .sort((a, b) => a - b);
    const honestTimes = honest.map((p) => (p.completedAt! - firstJoin) / 1000).sort((a, b) => a - b);
    const corrupt = this.peers.filter((p) => p.role === 'corrupt');
    const key = (p: SimPeer): string => `${p.address}:${SIM_PORT}`;
    return {
      scenario: this.scenario.name,
      hasher: this.scenario.hasher,
      peers: this.peers.length,
      leechers: finishers.length,
      torrentBytes: F,
      pieceCount: this.metainfo.pieceCount,
      allComplete: done.length === finishers.length,
      incomplete: finishers.length - done.length,
      lastFinish,
      fluidBound: T,
      efficiency: lastFinish ? T / lastFinish : undefined,
      seederCopies: this.peers.filter((p) => p.role === 'seeder').reduce((a, p) => a + p.uploaded, 0) / F,
      shareRatio: {
        min: ratios[0] ?? 0,
        median: median(ratios),
        max: ratios[ratios.length - 1] ?? 0,
      },
      medianFinish: honestTimes.length > 0 ? median(honestTimes) : undefined,
      freeRiderFinish: this.peers
        .filter((p) => p.role === 'free-rider')
        .map((p) => (p.completedAt === undefined ? undefined : (p.completedAt - firstJoin) / 1000)),
      corruptBans: corrupt.map((c) => ({
        address: key(c),
        bannedBy: this.peers.filter((p) => p.session?.verifying.isBanned(key(c))).length,
      })),
      hashFailures: this.peers.reduce((a, p) => a + (p.session?.hashFailures ?? 0), 0),
      badPieces: await this.badPieces(),
      virtualSeconds: this.clock.now() / 1000,
      wallSeconds,
      clockSteps: this.clockSteps,
      networkEvents: this.net.stats.events,
    };
  }
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const m = xs.length >> 1;
  return xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
}

/** Resolves after every promise callback queued so far (and those they queue) has run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
