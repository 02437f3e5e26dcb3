/**
 * An in-memory network for the simulator and the fake-clock tests: hosts with an uplink and a downlink
 * capacity, a one-way latency per link, and byte streams between them that keep the semantics of a TCP
 * socket as SocketStream exposes it (in-order delivery, `pendingBytes` and `drain`, pause/resume, a close
 * that reaches the other side after the latency). Nothing is ever sent on a real network: addresses are
 * labels (127.x.y.z by convention).
 *
 * The model, coarse on purpose so that a thousand peers simulate in seconds:
 * - A host's uplink serves its streams in rounds: each round takes one packet (whole writes, up to about
 *   a millisecond of the uplink) from every stream with bytes to send, so streams share the uplink fairly.
 *   A round is one event, whatever the number of streams; each packet is one more event, its delivery.
 *   A stream with only a few small messages queued (REQUESTs, HAVEs) is sent at once instead, as a
 *   fair-queueing qdisc serves sparse flows first (see SPARSE_BYTES).
 * - A packet arrives after the link's latency and then waits its turn on the receiver's downlink (first
 *   come, first served in the order packets reach it, at the downlink's rate) before the receiver's
 *   handlers see it. The turn is taken when the packet gets there, not when it is sent: a slow uplink's
 *   round puts packets on the way that arrive up to a round later, and reserving the downlink for them at
 *   once queued a fast sender's packets behind bytes not yet there (a seeder at 8 MiB/s sent 0.5 MiB/s to
 *   a leecher whose 8 MiB/s downlink carried 1 MiB/s from slow peers). A packet that finds the downlink
 *   free is one event; one that must wait is two.
 * - Flow control: a stream keeps at most `windowBytes` sent and not yet read by the other side; a paused
 *   receiver reads nothing, so its sender stops once the window is full, as TCP's receive window does.
 * - Writes above 4 KiB, and a write alone in its chunk that is a view of Node's buffer pool, go by
 *   reference; smaller ones that travel in one packet reach the reader together, copied into one fresh
 *   buffer, as one socket read hands over several messages (see SMALL_WRITE). A
 *   write's `written` callback runs once the receiver has read it (or the stream failed), so a sender that
 *   reuses its buffer after `written` cannot change bytes still on the way.
 * Times are kept in fractional milliseconds and the network's events run on whole milliseconds of the
 * FakeClock: one clock timer per millisecond with work, however many packets are delivered in it.
 */
import type { FakeClock } from '../shared/clock.js';
import type { ByteStream, Listener, Network, StreamHandlers } from '../shared/env.js';

export interface HostOptions {
  /** Uplink capacity, bytes per second (default: unlimited). */
  readonly up?: number;
  /** Downlink capacity, bytes per second (default: unlimited). */
  readonly down?: number;
  /** This host's share of every link's one-way latency, ms: a link's latency is the sum of both ends'. */
  readonly latencyMs?: number;
}

export interface SimNetworkOptions {
  /** Bytes a stream may have sent and the other side not yet read (default 256 KiB). */
  readonly windowBytes?: number;
  /** Smallest packet a round takes from a stream with that much queued (default 16 KiB + a header). */
  readonly packetBytes?: number;
}

/** Above this many bytes queued a writer is told to wait for `drain` (Node's default high-water mark). */
const HIGH_WATER = 16 * 1024;
/** What a closed stream still sends of its queue (a socket buffer's worth). */
const KERNEL_BUFFER = 64 * 1024;
const FIRST_EPHEMERAL_PORT = 40_000;
/**
 * A stream with no more than this queued (a few REQUESTs, HAVEs, a choke) is a sparse flow: it is sent at
 * once, not in the next round behind every bulk stream's 16 KiB packet, as a fair-queueing qdisc (fq_codel,
 * Linux's default) serves sparse flows first. Without this, a leecher whose slow uplink carried blocks to
 * four peers held each of its REQUESTs a quarter of a second, and its seeder's uplink idled for want of them.
 */
const SPARSE_BYTES = 1500;

interface Write {
  readonly bytes: Buffer;
  readonly written: (() => void) | undefined;
}

interface Packet {
  /** The pipe it travels on. */
  readonly pipe: Pipe;
  readonly writes: Write[];
  readonly size: number;
  /** The writer closed: the other side hears it after these bytes. */
  readonly fin: boolean;
  /** When its last byte is through the receiver's downlink, if that is free when it gets there. */
  readonly reach: number;
  /** Its time on the receiver's downlink, ms. */
  readonly tx: number;
}

/** What runs at a virtual millisecond: a packet's delivery, or anything else. */
type Work = Packet | (() => void);

class Host {
  alive = true;
  readonly listeners = new Map<number, (stream: ByteStream) => void>();
  /** Streams ending here, for kill and listener close. */
  readonly ends = new Set<SimStream>();
  /** Pipes with something to send, served in turn. */
  ring: Pipe[] = [];
  uplinkBusy = false;
  /** When the uplink has sent what it was given (fractional ms). */
  upFreeAt = 0;
  /** When the downlink has taken what has arrived (fractional ms). */
  downFreeAt = 0;
  nextPort = FIRST_EPHEMERAL_PORT;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(
    readonly address: string,
    public up: number,
    public down: number,
    public latencyMs: number,
  ) {}
}

/** One direction of a stream: the writer's queue, the packets on the way, the reader's buffer. */
class Pipe {
  readonly queue: Write[] = [];
  queued = 0;
  /** Sent and not yet read by the other side. */
  inFlight = 0;
  /** When the last packet sent reaches the receiver's downlink: the next may not overtake it. */
  lastReach = 0;
  /** Packets of this pipe waiting on the receiver's downlink: the next waits behind them. */
  waitingDown = 0;
  inRing = false;
  finQueued = false;
  finSent = false;
  /** Arrived and not yet read (the reader is paused or not attached yet). */
  readonly arrived: Packet[] = [];
  dead = false;
  window = 0;
  writer!: SimStream;
  reader!: SimStream;

  constructor(
    readonly from: Host,
    readonly to: Host,
    readonly latencyMs: number,
  ) {}

  get canSend(): boolean {
    return (
      !this.dead && ((this.queued > 0 && this.inFlight < this.window) || (this.finQueued && !this.finSent))
    );
  }
}

export class SimStream implements ByteStream {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Set once both ends exist. */
  peer!: SimStream;
  out!: Pipe;
  in!: Pipe;
  handlers: StreamHandlers | undefined;
  paused = false;
  /** Closed by its owner, by the other side, or by a reset. */
  closed = false;
  #needDrain = false;

  constructor(
    readonly net: SimNetwork,
    readonly host: Host,
    localPort: number,
    remote: Host,
    remotePort: number,
  ) {
    this.localAddress = host.address;
    this.localPort = localPort;
    this.remoteAddress = remote.address;
    this.remotePort = remotePort;
  }

  get pendingBytes(): number {
    return this.out.queued;
  }

  attach(handlers: StreamHandlers): void {
    this.handlers = handlers;
    this.net.readSoon(this);
  }

  write(bytes: Buffer, written?: () => void): void {
    if (this.closed || this.out.finQueued || this.out.dead) {
      written?.();
      return;
    }
    this.out.queue.push({ bytes, written });
    this.out.queued += bytes.length;
    if (this.out.queued >= HIGH_WATER) this.#needDrain = true;
    this.net.wake(this.out);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.net.readSoon(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // As a socket destroyed with data queued: what the kernel's buffer would have taken at once still
    // leaves (this turn's last messages), the rest is dropped, and the other side hears the close after it.
    this.net.trimQueue(this.out, KERNEL_BUFFER);
    this.out.finQueued = true;
    this.net.wake(this.out);
    // Bytes still arriving are dropped: their writer hears they were taken.
    this.net.dropArrived(this.in);
  }

  /** The writer's queue went below the high-water mark after a writer was told to wait. */
  sent(): void {
    if (this.#needDrain && this.out.queued === 0) {
      this.#needDrain = false;
      if (!this.closed) this.handlers?.drain();
    }
  }

  /** Closed from the other side (its FIN, a reset) or by the network: tell the owner once. */
  ended(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.host.ends.delete(this);
    this.net.dropQueued(this.out);
    this.out.dead = true;
    const h = this.handlers;
    h?.drain();
    h?.close(reason);
  }
}

/** Totals of a run. */
export interface NetworkStats {
  /** Network events run (uplink rounds and packet deliveries). */
  events: number;
  packets: number;
  bytes: number;
}

export class SimNetwork {
  readonly clock: FakeClock;
  readonly stats: NetworkStats = { events: 0, packets: 0, bytes: 0 };
  readonly #hosts = new Map<string, Host>();
  readonly #latency = new Map<string, number>();
  readonly #window: number;
  readonly #packet: number;
  /** Work by whole millisecond, and the milliseconds a clock timer is armed for. */
  readonly #buckets = new Map<number, Work[]>();
  readonly #times: number[] = [];
  readonly #armed = new Set<number>();
  readonly #joinBuffer = Buffer.allocUnsafeSlow(128 * 1024 + 13);
  #joining = false;

  constructor(clock: FakeClock, opts: SimNetworkOptions = {}) {
    this.clock = clock;
    this.#window = opts.windowBytes ?? 256 * 1024;
    this.#packet = opts.packetBytes ?? 16 * 1024 + 64;
  }

  /** Adds a host (or brings a killed one back, empty) and returns the Network its programs use. */
  addHost(address: string, opts: HostOptions = {}): Network {
    const old = this.#hosts.get(address);
    if (old?.alive) throw new Error(`host ${address} already exists`);
    const host = new Host(
      address,
      opts.up ?? Number.POSITIVE_INFINITY,
      opts.down ?? Number.POSITIVE_INFINITY,
      opts.latencyMs ?? 0,
    );
    this.#hosts.set(address, host);
    return this.#view(host);
  }

  hostStats(address: string): { sent: number; received: number } | undefined {
    const h = this.#hosts.get(address);
    return h ? { sent: h.bytesSent, received: h.bytesReceived } : undefined;
  }

  /** One-way latency between two hosts, in place of the sum of their shares. */
  setLatency(a: string, b: string, ms: number): void {
    this.#latency.set(linkKey(a, b), ms);
  }

  latency(a: Host, b: Host): number {
    return this.#latency.get(linkKey(a.address, b.address)) ?? a.latencyMs + b.latencyMs;
  }

  /**
   * The host is gone. `silent`: it stops sending and everything sent to it is lost, as when a machine loses
   * power (dials to it time out); `reset`: the other end of each of its streams hears a reset after the
   * latency, as when its process is killed. Its listeners are gone either way.
   */
  kill(address: string, how: 'silent' | 'reset' = 'silent'): void {
    const host = this.#hosts.get(address);
    if (!host?.alive) return;
    host.alive = false;
    host.listeners.clear();
    host.ring = [];
    for (const end of [...host.ends]) {
      end.closed = true;
      this.dropQueued(end.out);
      end.out.dead = true;
      this.dropArrived(end.in);
      const other = end.peer;
      // A stream closed here whose close has not gone out yet is reset too.
      if (how === 'reset' && !other.closed)
        this.#at(this.clock.now() + end.out.latencyMs, () => other.ended('connection reset by peer'));
    }
    host.ends.clear();
  }

  isAlive(address: string): boolean {
    return this.#hosts.get(address)?.alive ?? false;
  }

  // ---- streams ----

  #view(host: Host): Network {
    return {
      dial: (to, port, timeoutMs) => this.#dial(host, to, port, timeoutMs),
      listen: (_addr, port, onStream) => this.#listen(host, port, onStream),
    };
  }

  #listen(host: Host, port: number, onStream: (s: ByteStream) => void): Promise<Listener> {
    if (!host.alive) return Promise.reject(new Error('host is down'));
    let p = port;
    if (p === 0) {
      p = 6881;
      while (host.listeners.has(p)) p++;
    }
    if (host.listeners.has(p)) return Promise.reject(new Error(`address in use: ${host.address}:${p}`));
    host.listeners.set(p, onStream);
    return Promise.resolve({
      port: p,
      close: () => {
        if (host.listeners.get(p) !== onStream) return;
        host.listeners.delete(p);
        // As Node's listener here does: the connections it accepted are closed with it.
        for (const end of [...host.ends]) if (end.localPort === p) end.close();
      },
    });
  }

  #dial(from: Host, address: string, port: number, timeoutMs: number): Promise<ByteStream> {
    return new Promise((resolve, reject) => {
      const now = this.clock.now();
      const to = this.#hosts.get(address);
      const timedOut = (): void => this.#at(now + timeoutMs, () => reject(new Error('timed out')));
      if (!from.alive || !to?.alive) {
        timedOut();
        return;
      }
      const lat = this.latency(from, to);
      if (2 * lat > timeoutMs) {
        timedOut();
        return;
      }
      // The SYN reaches the other host after one latency; its answer comes back after another.
      this.#at(now + lat, () => {
        if (!to.alive || !from.alive) {
          timedOut();
          return;
        }
        const onStream = to.listeners.get(port);
        if (!onStream) {
          this.#at(now + 2 * lat, () => reject(new Error('connection refused')));
          return;
        }
        const localPort = from.nextPort++;
        const mine = new SimStream(this, from, localPort, to, port);
        const theirs = new SimStream(this, to, port, from, localPort);
        mine.peer = theirs;
        theirs.peer = mine;
        mine.out = theirs.in = this.#pipe(mine, theirs, lat);
        theirs.out = mine.in = this.#pipe(theirs, mine, lat);
        to.ends.add(theirs);
        onStream(theirs);
        this.#at(now + 2 * lat, () => {
          if (!from.alive) {
            reject(new Error('host is down'));
            return;
          }
          from.ends.add(mine);
          resolve(mine);
        });
      });
    });
  }

  #pipe(writer: SimStream, reader: SimStream, latencyMs: number): Pipe {
    const p = new Pipe(writer.host, reader.host, latencyMs);
    p.window = this.#window;
    p.writer = writer;
    p.reader = reader;
    return p;
  }

  // ---- moving bytes ----

  /** The pipe has something to send: join its host's uplink rounds (or, a sparse stream, go now). */
  wake(pipe: Pipe): void {
    if (pipe.inRing || !pipe.canSend || !pipe.from.alive) return;
    const host = pipe.from;
    if (host.uplinkBusy && pipe.queued <= SPARSE_BYTES && !pipe.finQueued) {
      // At the end of this millisecond's work, so that the messages written together leave together. Its
      // bytes leave then, and the bulk streams' next round starts that much later.
      pipe.inRing = true;
      this.#at(this.clock.now(), () => {
        pipe.inRing = false;
        if (!pipe.canSend || !host.alive) return;
        if (pipe.queued > SPARSE_BYTES || pipe.finQueued) return this.wake(pipe);
        const now = this.clock.now();
        host.upFreeAt += this.#send(pipe, now) - now;
      });
      return;
    }
    pipe.inRing = true;
    host.ring.push(pipe);
    if (!host.uplinkBusy) {
      host.uplinkBusy = true;
      this.#at(this.clock.now(), () => this.#round(host));
    }
  }

  /** One uplink round: a packet from every pipe that can send, then the next round when they are out. */
  #round(host: Host): void {
    this.stats.events++;
    if (!host.alive) {
      host.uplinkBusy = false;
      return;
    }
    const now = this.clock.now();
    let t = Math.max(now, host.upFreeAt);
    const ring = host.ring;
    host.ring = [];
    for (const pipe of ring) {
      pipe.inRing = false;
      if (!pipe.canSend) continue;
      t = this.#send(pipe, t);
      // A writer told of room by this packet (drain) may have written at once and rejoined the ring.
      if (pipe.canSend && !pipe.inRing) {
        pipe.inRing = true;
        host.ring.push(pipe);
      }
    }
    host.upFreeAt = t;
    if (host.ring.length > 0) this.#at(Math.max(now + (t > now ? 0 : 1), t), () => this.#round(host));
    else host.uplinkBusy = false;
  }

  /** Puts one packet of `pipe` on its host's uplink at `t` (ms); returns when the uplink is free again. */
  #send(pipe: Pipe, t: number): number {
    const host = pipe.from;
    const budget = Math.max(this.#packet, Number.isFinite(host.up) ? host.up / 1000 : this.#window);
    const queue = pipe.queue;
    let size = 0;
    let n = 0;
    while (n < queue.length && size < budget && pipe.inFlight + size < pipe.window)
      size += queue[n++]!.bytes.length;
    // One array for the packet, cut from the queue in one go (most packets are one write: a HAVE, a block).
    const writes = queue.splice(0, n);
    pipe.queued -= size;
    pipe.inFlight += size;
    const fin = pipe.queue.length === 0 && pipe.finQueued && !pipe.finSent;
    if (fin) pipe.finSent = true;
    host.bytesSent += size;
    const end = t + (size / host.up) * 1000;
    // Its last byte is through the downlink at `reach` if the downlink is free when its first byte gets there.
    const tx = (size / pipe.to.down) * 1000;
    const reach = Math.max(end + pipe.latencyMs + tx, pipe.lastReach);
    pipe.lastReach = reach;
    const packet: Packet = { pipe, writes, size, fin, reach, tx };
    this.stats.packets++;
    // The packet is its own event (no closure): one allocation fewer per packet, most of a run's events.
    this.#at(reach, packet);
    if (size > 0) pipe.writer.sent();
    return end;
  }

  /** The packet has reached the receiver's downlink: through it now, or after what got there first. */
  #downlink(packet: Packet): void {
    const { pipe, reach, tx } = packet;
    const to = pipe.to;
    if (to.downFreeAt <= reach - tx && pipe.waitingDown === 0) {
      to.downFreeAt = reach;
      this.#arrive(packet);
      return;
    }
    const done = Math.max(reach - tx, to.downFreeAt) + tx;
    to.downFreeAt = done;
    pipe.waitingDown++;
    this.#at(done, () => {
      pipe.waitingDown--;
      this.#arrive(packet);
    });
  }

  #arrive(packet: Packet): void {
    this.stats.events++;
    const pipe = packet.pipe;
    const reader = pipe.reader;
    if (!pipe.to.alive) {
      // Lost: the writer's window stays spent, as a TCP sender waits for acknowledgements that never come.
      for (const w of packet.writes) w.written?.();
      return;
    }
    if (reader.closed) {
      pipe.inFlight -= packet.size;
      for (const w of packet.writes) w.written?.();
      return;
    }
    pipe.to.bytesReceived += packet.size;
    pipe.arrived.push(packet);
    this.#read(reader);
  }

  /**
   * A PIECE message leaves PeerConnection as two writes, its 13-byte header and the block. A socket would
   * hand the reader both in one chunk, and the decoder would take the block as a view of it; delivered as
   * two chunks the decoder must copy every block into a new buffer, a cost production does not have (it
   * was a third of a 1,000-peer run). So the pair is joined in one reused buffer. Safe because the reader
   * consumes a whole message synchronously (the session copies the block into its piece at once) and the
   * pair is a whole message: every other write is one whole message, so nothing is left in the decoder.
   */
  #deliverJoined(stream: SimStream, header: Write, block: Write): boolean {
    const n = header.bytes.length + block.bytes.length;
    if (this.#joining || n > this.#joinBuffer.length) return false;
    this.#joining = true;
    try {
      header.bytes.copy(this.#joinBuffer, 0);
      block.bytes.copy(this.#joinBuffer, header.bytes.length);
      stream.handlers!.data(this.#joinBuffer.subarray(0, n), true);
    } finally {
      this.#joining = false;
    }
    header.written?.();
    block.written?.();
    return true;
  }

  /** Reads what has arrived for `stream` on the next millisecond boundary (after attach or resume). */
  readSoon(stream: SimStream): void {
    if (stream.in.arrived.length > 0) this.#at(this.clock.now(), () => this.#read(stream));
  }

  #read(stream: SimStream): void {
    const pipe = stream.in;
    while (pipe.arrived.length > 0 && stream.handlers && !stream.paused && !stream.closed) {
      const packet = pipe.arrived.shift()!;
      pipe.inFlight -= packet.size;
      this.stats.bytes += packet.size;
      const writes = packet.writes;
      let i = 0;
      while (i < writes.length) {
        const w = writes[i]!;
        const next = writes[i + 1];
        if (
          next &&
          !stream.closed &&
          isPieceHeader(w.bytes, next.bytes.length) &&
          this.#deliverJoined(stream, w, next)
        ) {
          i += 2;
          continue;
        }
        const end = smallRun(writes, i);
        if (!stream.closed)
          stream.handlers.data(
            end > i + 1 || mayLiveOnHeap(w.bytes) ? gather(writes, i, end) : w.bytes,
            false,
          );
        for (let k = i; k < end; k++) writes[k]!.written?.();
        i = end;
      }
      if (packet.fin) {
        stream.ended('peer closed the connection');
        // Both sides are closed now: nothing of the writer's end is left to reset.
        pipe.writer.host.ends.delete(pipe.writer);
      }
    }
    // Room in the window again: the writer may go on.
    this.wake(pipe);
  }

  /** Drops what arrived and was not read (the reader closed): its writer hears it was taken. */
  dropArrived(pipe: Pipe): void {
    for (const packet of pipe.arrived.splice(0)) {
      pipe.inFlight -= packet.size;
      for (const w of packet.writes) w.written?.();
    }
    pipe.dead = true;
  }

  /** Keeps the first `keep` bytes of the writer's queue (whole writes), drops the rest. */
  trimQueue(pipe: Pipe, keep: number): void {
    let kept = 0;
    let i = 0;
    while (i < pipe.queue.length && kept + pipe.queue[i]!.bytes.length <= keep)
      kept += pipe.queue[i++]!.bytes.length;
    for (const w of pipe.queue.splice(i)) w.written?.();
    pipe.queued = kept;
  }

  /** Drops what was queued and not sent (the writer's stream failed). */
  dropQueued(pipe: Pipe): void {
    for (const w of pipe.queue.splice(0)) w.written?.();
    pipe.queued = 0;
  }

  // ---- events ----

  /** Runs `fn` (or delivers a packet) at virtual time `t` (rounded up to a whole millisecond, never before now). */
  #at(t: number, fn: Work): void {
    const now = this.clock.now();
    const ms = Math.max(Math.ceil(t), Math.ceil(now));
    let bucket = this.#buckets.get(ms);
    if (!bucket) {
      bucket = [];
      this.#buckets.set(ms, bucket);
      heapPush(this.#times, ms);
    }
    bucket.push(fn);
    if (!this.#armed.has(ms)) {
      this.#armed.add(ms);
      this.clock.setTimeout(() => this.#fire(ms), ms - now);
    }
  }

  #fire(ms: number): void {
    const now = this.clock.now();
    while (this.#times.length > 0 && this.#times[0]! <= now) {
      const t = heapPop(this.#times);
      const bucket = this.#buckets.get(t)!;
      // Work added to this millisecond while it runs runs too.
      for (let i = 0; i < bucket.length; i++) {
        const work = bucket[i]!;
        if (typeof work === 'function') work();
        else this.#downlink(work);
      }
      this.#buckets.delete(t);
    }
    this.#armed.delete(ms);
  }
}

/**
 * Writes up to this size that follow each other in a packet reach the reader as one chunk, copied into a
 * fresh buffer, as one socket read hands over several messages at once. Besides fewer calls, it spares the
 * reader's decoder a cost production does not have: a message encoded into a Buffer of 64 bytes or less
 * lives on V8's heap, and the zero-copy decoder's view of it (`.buffer`) makes V8 move it off the heap,
 * one allocation per HAVE or REQUEST (the largest single cost of a 200-peer run).
 */
const SMALL_WRITE = 4096;
/**
 * Whether a write alone in its chunk must be copied first (see SMALL_WRITE): a small Buffer that is not a
 * view into a larger one may live on V8's heap. Node's pool slices (allocUnsafe: HAVE, REQUEST and the
 * other fixed messages) lie past the start of their pool and go by reference, as a large write does.
 */
function mayLiveOnHeap(b: Buffer): boolean {
  return b.length <= SMALL_WRITE && b.byteOffset === 0;
}

/** The largest chunk made of small writes. */
const GATHER_MAX = 64 * 1024;

/** End (exclusive) of the run of small writes from `i`: at least `i + 1`; stops before a PIECE header and its block. */
function smallRun(writes: readonly Write[], i: number): number {
  let size = writes[i]!.bytes.length;
  if (size > SMALL_WRITE) return i + 1;
  let j = i + 1;
  while (j < writes.length) {
    const b = writes[j]!.bytes;
    const after = writes[j + 1];
    if (b.length > SMALL_WRITE || size + b.length > GATHER_MAX) break;
    if (after && isPieceHeader(b, after.bytes.length)) break;
    size += b.length;
    j++;
  }
  return j;
}

/** Writes `i..end` in one new buffer (the reader's decoder may keep views of it: never reused). */
function gather(writes: readonly Write[], i: number, end: number): Buffer {
  let size = 0;
  for (let k = i; k < end; k++) size += writes[k]!.bytes.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let k = i; k < end; k++) {
    const b = writes[k]!.bytes;
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** A PIECE message's header (length, id 7, index, begin) for a block of `blockLength` bytes. */
function isPieceHeader(b: Buffer, blockLength: number): boolean {
  return b.length === 13 && b[4] === 7 && b.readUInt32BE(0) === 9 + blockLength;
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function heapPush(h: number[], v: number): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (h[parent]! <= v) break;
    h[i] = h[parent]!;
    i = parent;
  }
  h[i] = v;
}

function heapPop(h: number[]): number {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]! < h[l]! ? r : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
  return top;
}
