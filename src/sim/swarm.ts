/**
 * A swarm built from a scenario: real chunkswarm Clients (session, picker, choker, wire codec) on a
 * SimNetwork, announcing to a SimTracker, all on one FakeClock. `run` moves the clock from event to event
 * until every leecher that is meant to finish has, or the scenario's time cap, and records each peer's
 * progress as it goes.
 *
 * With `loopback`, the same scenario runs in real time on 127.0.0.1 instead: real sockets, Node's timers,
 * a real tracker (HTTP), and each peer's capacities as its Client's upload and download limits. It is
 * the check of the simulator against the real thing, for a few peers.
 */
import { performance } from 'node:perf_hooks';
import { pieceSize } from '../metainfo/index.js';
import { Client } from '../session/client.js';
import type { TorrentSession } from '../session/session.js';
import { Bitfield } from '../shared/bitfield.js';
import { type Clock, FakeClock, systemClock } from '../shared/clock.js';
import { type Env, seededRandom } from '../shared/env.js';
import { nodeNetwork } from '../shared/node-env.js';
import { PieceBufferPool, plainSharedBuffer } from '../storage/buffer-pool.js';
import { PieceHasher } from '../storage/hasher.js';
import { MemoryStorage, type Storage } from '../storage/index.js';
import { TrackerClient } from '../tracker/index.js';
import { startTracker, type TrackerHandle } from '../tracker/server/index.js';
import { ComparingHasher, CorruptingStorage, SimContent, SyntheticStorage } from './content.js';
import { SimNetwork } from './network.js';
import type { PeerGroup, PeerRole, Scenario } from './scenario.js';
import { SimTracker } from './tracker.js';

export const SIM_PORT = 6881;

export interface SimPeer {
  readonly name: string;
  readonly role: PeerRole;
  readonly address: string;
  /** The port it listens on (SIM_PORT on the simulator). */
  port: number;
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
  /** `simulated` (virtual time) or `loopback` (real sockets, real time). */
  readonly mode: 'simulated' | 'loopback';
  readonly hasher: 'sha1' | 'compare';
  /**
   * What caps each peer: `link`, a link with a queue and latency; `limit`, the peer's own rate limits (token
   * buckets) over an unlimited link, as on loopback, where there is no added latency either.
   */
  readonly capacities: { readonly model: 'link' | 'limit'; readonly latencyMs: number };
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
  /** The FakeClock on the simulator, Node's clock on loopback. */
  readonly clock: Clock;
  readonly fake: FakeClock | undefined;
  readonly loopback: boolean;
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
  #origin = 0;
  #started = false;
  #realTracker: TrackerHandle | undefined;
  /**
   * One pool of piece buffers for every simulated session (see Env.pieceBuffers); idle ones are all kept.
   * Nothing is written to a disk, so they need not be aligned for it.
   */
  readonly #pieceBuffers = new PieceBufferPool(Number.POSITIVE_INFINITY, plainSharedBuffer);

  constructor(scenario: Scenario, opts: { loopback?: boolean } = {}) {
    this.scenario = scenario;
    this.loopback = opts.loopback === true;
    this.fake = this.loopback ? undefined : new FakeClock(0);
    this.clock = this.fake ?? systemClock;
    this.net = new SimNetwork(this.fake ?? new FakeClock(0));
    this.tracker = new SimTracker(this.clock, {
      latencyMs: scenario.trackerLatencyMs,
      interval: scenario.trackerInterval,
      minInterval: scenario.trackerMinInterval,
      seed: scenario.seed,
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
          address: opts.loopback ? '127.0.0.1' : simAddress(n),
          port: SIM_PORT,
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

  /** Milliseconds since the start (the FakeClock's time on the simulator). */
  now(): number {
    return this.clock.now() - this.#origin;
  }

  /** Schedules every join; `run` then moves the clock. On loopback, `run` starts the tracker first. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#origin = this.loopback ? this.now() : 0;
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
    const metainfo = this.metainfo;
    const complete = p.role === 'seeder' || p.role === 'corrupt';
    const have = complete ? Bitfield.full(metainfo.pieceCount) : new Bitfield(metainfo.pieceCount);
    let storage: Storage;
    if (s.hasher === 'compare' || complete) storage = new SyntheticStorage(this.content, have);
    else storage = new MemoryStorage(metainfo);
    if (p.role === 'corrupt') storage = new CorruptingStorage(storage);
    const random = seededRandom(s.seed * 7919 + this.peers.indexOf(p));
    const env: Env = this.loopback
      ? { clock: this.clock, random, net: nodeNetwork }
      : {
          clock: this.clock,
          random,
          pieceBuffers: this.#pieceBuffers,
          net: this.net.addHost(
            p.address,
            s.uplinks === 'limit'
              ? { up: Number.POSITIVE_INFINITY, down: Number.POSITIVE_INFINITY, latencyMs: s.latencyMs }
              : { up: p.up, down: p.down, latencyMs: s.latencyMs },
          ),
        };
    const limit = (x: number): number => (Number.isFinite(x) ? x : 0);
    // On loopback, and with `uplinks: limit`, the capacities are the Client's limits.
    const limited = this.loopback || s.uplinks === 'limit';
    const client = new Client({
      env,
      hasher:
        s.hasher === 'compare'
          ? new ComparingHasher(this.content)
          : new PieceHasher({ inlineBelow: Number.POSITIVE_INFINITY }),
      host: p.address,
      port: this.loopback ? 0 : SIM_PORT,
      maxPeers: s.maxPeers,
      dialLimit: s.dialLimit,
      // The free rider takes requests and never serves them: a budget of one byte a second. On loopback
      // the capacities are the Client's limits.
      uploadLimit: p.role === 'free-rider' ? 1 : limited ? limit(p.up) : 0,
      downloadLimit: limited ? limit(p.down) : 0,
    });
    p.client = client;
    p.storage = storage;
    p.joinedAt = this.now();
    await client.listen();
    p.port = client.port;
    const tracker = this.#realTracker;
    const session = client.addSession({
      metainfo,
      storage,
      have,
      mode: complete ? 'seed' : 'auto',
      announcer: tracker
        ? new TrackerClient({
            tiers: [[tracker.announceUrl]],
            infoHash: metainfo.infoHash,
            peerId: client.peerId,
            port: client.port,
          })
        : this.tracker.announcerFor({
            ip: p.address,
            port: client.port,
            peerId: client.peerId,
            infoHash: metainfo.infoHash,
          }),
      uploadSlots: s.uploadSlots,
      superSeed: s.superSeeding,
    });
    p.session = session;
    p.samples.push([this.now() / 1000, session.have.count / metainfo.pieceCount]);
    session.events.on('complete', () => {
      p.completedAt = this.now();
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
    p.leftAt = this.now();
    this.#keepTotals(p);
    p.badPieces = await this.#badPieces(p);
    // On loopback a crash cannot be silent: the process's sockets close with it.
    if (how === 'crash' && !this.loopback) this.net.kill(p.address, 'silent');
    await p.client.close({ announce: how === 'stop' });
    if (how === 'stop' && !this.loopback) this.net.kill(p.address, 'reset');
  }

  #keepTotals(p: SimPeer): void {
    if (!p.session) return;
    p.uploaded = p.session.uploaded;
    p.downloaded = p.session.downloaded;
  }

  #sample(): void {
    const t = this.now() / 1000;
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
    if (this.loopback && !this.#realTracker) {
      this.#realTracker = await startTracker({
        host: '127.0.0.1',
        port: 0,
        udp: false,
        interval: this.scenario.trackerInterval,
        minInterval: this.scenario.trackerMinInterval,
      });
    }
    this.start();
    const cap = opts.capMs ?? this.scenario.capSeconds * 1000;
    const stop = opts.until ?? (() => this.done);
    await this.advanceUntil(stop, cap);
    this.#sample();
    return this.result();
  }

  /**
   * Fires the clock's timers in order; after each virtual millisecond with work, lets the promise chains
   * it started settle (as real timers would), so the sessions' `await`s run in between. On loopback: waits
   * in real time. `capMs` is a time on the swarm's clock (ms since its start), not a duration: a cap already
   * past returns at once.
   */
  async advanceUntil(stop: () => boolean, capMs: number): Promise<void> {
    const clock = this.fake;
    if (!clock) {
      while (!stop() && this.now() < capMs) await new Promise((r) => setTimeout(r, 20));
      return;
    }
    await settle();
    while (!stop()) {
      const next = clock.nextAt();
      if (next === undefined || next > capMs) break;
      clock.advance(next - clock.now());
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
    await this.#realTracker?.close();
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
    const key = (p: SimPeer): string => `${p.address}:${p.port}`;
    return {
      scenario: this.scenario.name,
      mode: this.loopback ? 'loopback' : 'simulated',
      hasher: this.scenario.hasher,
      capacities: this.loopback
        ? { model: 'limit', latencyMs: 0 }
        : { model: this.scenario.uplinks, latencyMs: this.scenario.latencyMs },
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
      virtualSeconds: this.now() / 1000,
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
