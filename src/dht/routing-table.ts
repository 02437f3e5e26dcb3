/**
 * The routing table of BEP 5: buckets of at most K nodes, split only when the bucket that holds our own
 * id is full, so the table knows many nodes near us and a few far away. Pure: time comes in as
 * arguments, and where the table needs the network (is a questionable node still there before we drop
 * it for a newcomer?) it returns what to ping instead of pinging.
 */
import { commonPrefixBits, compareDistance, idInBucket } from './distance.js';
import { ID_LENGTH, type NodeContact } from './krpc.js';

/** BEP 5: a node that has not been heard from in 15 minutes is questionable. */
export const QUESTIONABLE_AFTER_MS = 15 * 60_000;
/** Failed queries in a row after which a node is bad, however recently it answered. */
const FAILURES_FOR_BAD = 2;
const MAX_DEPTH = ID_LENGTH * 8;

export interface RoutingEntry extends NodeContact {
  /** When it last answered one of our queries; undefined: never (only nodes that answered get in). */
  lastResponse: number;
  /** When it last sent us a query. */
  lastQuery: number | undefined;
  /** Queries in a row it did not answer. */
  failures: number;
}

export type NodeStatus = 'good' | 'questionable' | 'bad';

/** What `heard` did; `ping` asks the caller to check a questionable node that a newcomer would replace. */
export type HeardResult =
  | { readonly kind: 'added' | 'updated' | 'full' | 'ignored' }
  | { readonly kind: 'ping'; readonly node: NodeContact };

interface Bucket {
  nodes: RoutingEntry[];
  /** Nodes that answered us while the bucket was full: the next in line when one of its nodes goes bad. */
  replacements: RoutingEntry[];
  lastChanged: number;
}

function endpointKey(host: string, port: number): string {
  return `${host}:${port}`;
}

export class RoutingTable {
  readonly ownId: Buffer;
  readonly k: number;
  readonly #buckets: Bucket[];
  /** Which id each endpoint holds: one entry per address and port, so nobody fills a bucket with aliases. */
  readonly #endpoints = new Map<string, string>();

  constructor(ownId: Buffer, opts: { k?: number; now?: number } = {}) {
    if (ownId.length !== ID_LENGTH) throw new RangeError(`a node id is ${ID_LENGTH} bytes`);
    this.ownId = Buffer.from(ownId);
    this.k = opts.k ?? 8;
    this.#buckets = [{ nodes: [], replacements: [], lastChanged: opts.now ?? 0 }];
  }

  get size(): number {
    let n = 0;
    for (const b of this.#buckets) n += b.nodes.length;
    return n;
  }

  get bucketCount(): number {
    return this.#buckets.length;
  }

  status(e: RoutingEntry, now: number): NodeStatus {
    if (e.failures >= FAILURES_FOR_BAD) return 'bad';
    // BEP 5: good if it answered in the last 15 minutes, or answered once and queried us in the last 15.
    if (now - e.lastResponse < QUESTIONABLE_AFTER_MS && e.failures === 0) return 'good';
    if (e.lastQuery !== undefined && now - e.lastQuery < QUESTIONABLE_AFTER_MS && e.failures === 0)
      return 'good';
    return 'questionable';
  }

  #bucketIndex(id: Buffer): number {
    return Math.min(commonPrefixBits(this.ownId, id), this.#buckets.length - 1);
  }

  get(id: Buffer): RoutingEntry | undefined {
    const b = this.#buckets[this.#bucketIndex(id)]!;
    return b.nodes.find((e) => e.id.equals(id));
  }

  /** Would a node with this id get a place (so it is worth pinging a stranger that queried us)? */
  wants(id: Buffer, now: number): boolean {
    if (id.equals(this.ownId) || this.get(id) !== undefined) return false;
    const i = this.#bucketIndex(id);
    const b = this.#buckets[i]!;
    if (b.nodes.length < this.k) return true;
    if (i === this.#buckets.length - 1 && this.#buckets.length < MAX_DEPTH) return true;
    return b.nodes.some((e) => this.status(e, now) !== 'good');
  }

  /**
   * A node was heard from. `response`: it answered one of our queries, which is what earns a place;
   * `query`: it queried us, which only refreshes a node already in the table (BEP 5).
   */
  heard(contact: NodeContact, how: 'response' | 'query', now: number): HeardResult {
    if (contact.id.length !== ID_LENGTH || contact.id.equals(this.ownId)) return { kind: 'ignored' };
    const key = endpointKey(contact.host, contact.port);
    const idHex = contact.id.toString('hex');
    const holder = this.#endpoints.get(key);
    const known = this.get(contact.id);
    if (known !== undefined) {
      // The same id from another endpoint is either a move or an impostor: keep the one we know.
      if (holder !== idHex) return { kind: 'ignored' };
      if (how === 'response') {
        known.lastResponse = now;
        known.failures = 0;
      } else known.lastQuery = now;
      return { kind: 'updated' };
    }
    if (how === 'query') return { kind: 'ignored' };
    if (holder !== undefined) {
      // Another id answered from an endpoint we had under an old id: the node there restarted with a
      // new id (an answer matched our transaction, so it is the endpoint's own word). The old entry goes.
      const old = Buffer.from(holder, 'hex');
      const b = this.#buckets[this.#bucketIndex(old)]!;
      const i = b.nodes.findIndex((e) => e.id.equals(old));
      if (i >= 0) this.#drop(b, i);
      else this.#endpoints.delete(key);
    }
    const entry: RoutingEntry = {
      id: Buffer.from(contact.id),
      host: contact.host,
      port: contact.port,
      lastResponse: now,
      lastQuery: undefined,
      failures: 0,
    };
    for (;;) {
      const i = this.#bucketIndex(entry.id);
      const b = this.#buckets[i]!;
      if (b.nodes.length < this.k) {
        this.#place(b, entry, now);
        return { kind: 'added' };
      }
      // BEP 5: only the bucket our own id falls in is split.
      if (i === this.#buckets.length - 1 && this.#buckets.length < MAX_DEPTH) {
        this.#split();
        continue;
      }
      const bad = b.nodes.findIndex((e) => this.status(e, now) === 'bad');
      if (bad >= 0) {
        this.#drop(b, bad);
        this.#place(b, entry, now);
        return { kind: 'added' };
      }
      this.#addReplacement(b, entry);
      // The longest-silent questionable node is asked whether it is still there; if it does not
      // answer (`failed`), the newcomer takes its place from the replacements.
      let oldest: RoutingEntry | undefined;
      for (const e of b.nodes) {
        if (this.status(e, now) !== 'questionable') continue;
        if (oldest === undefined || e.lastResponse < oldest.lastResponse) oldest = e;
      }
      return oldest === undefined ? { kind: 'full' } : { kind: 'ping', node: oldest };
    }
  }

  /** A query to `id` went unanswered; a node that goes bad makes room for the newest replacement. */
  failed(id: Buffer, now: number): void {
    const b = this.#buckets[this.#bucketIndex(id)]!;
    const i = b.nodes.findIndex((e) => e.id.equals(id));
    if (i < 0) {
      const r = b.replacements.findIndex((e) => e.id.equals(id));
      if (r >= 0) b.replacements.splice(r, 1);
      return;
    }
    const e = b.nodes[i]!;
    const wasQuestionable = this.status(e, now) === 'questionable';
    e.failures++;
    // A questionable node that fails the check ping goes at once; a good one gets a second chance.
    if (wasQuestionable || this.status(e, now) === 'bad') {
      this.#drop(b, i);
      const next = b.replacements.pop();
      if (next !== undefined) this.#place(b, next, now);
    }
  }

  /** Up to `n` nodes closest to `target`, bad nodes left out. */
  closest(target: Buffer, n = this.k, now?: number): RoutingEntry[] {
    const all: RoutingEntry[] = [];
    for (const b of this.#buckets) {
      for (const e of b.nodes) if (now === undefined || this.status(e, now) !== 'bad') all.push(e);
    }
    all.sort((a, b) => compareDistance(a.id, b.id, target));
    return all.slice(0, n);
  }

  all(): RoutingEntry[] {
    return this.#buckets.flatMap((b) => b.nodes);
  }

  /**
   * Buckets nothing changed in for 15 minutes (`all`: every bucket but the nearest, which the lookup of
   * our own id covers), each as a random id inside it to look up (BEP 5); they count as changed now.
   */
  staleBuckets(now: number, random: (n: number) => Buffer, all = false): Buffer[] {
    const out: Buffer[] = [];
    const last = this.#buckets.length - 1;
    this.#buckets.forEach((b, depth) => {
      if (all ? depth < last : now - b.lastChanged >= QUESTIONABLE_AFTER_MS) {
        out.push(idInBucket(this.ownId, depth, random(ID_LENGTH)));
        b.lastChanged = now;
      }
    });
    return out;
  }

  /** Marks a bucket touched: a lookup just ran through it. */
  touchBucketOf(id: Buffer, now: number): void {
    this.#buckets[this.#bucketIndex(id)]!.lastChanged = now;
  }

  /** One line per bucket, `depth: nodes (+replacements)`, nearest bucket last: for tests and pages. */
  picture(): string[] {
    return this.#buckets.map((b, depth) => {
      const mark = depth === this.#buckets.length - 1 ? `${depth}+` : `${depth}`;
      const extra = b.replacements.length > 0 ? ` (+${b.replacements.length})` : '';
      return `${mark}: ${b.nodes.length}${extra}`;
    });
  }

  #place(b: Bucket, e: RoutingEntry, now: number): void {
    b.nodes.push(e);
    b.lastChanged = now;
    this.#endpoints.set(endpointKey(e.host, e.port), e.id.toString('hex'));
  }

  #drop(b: Bucket, i: number): void {
    const [e] = b.nodes.splice(i, 1);
    if (e !== undefined) this.#endpoints.delete(endpointKey(e.host, e.port));
  }

  #addReplacement(b: Bucket, e: RoutingEntry): void {
    const same = b.replacements.findIndex(
      (r) => r.id.equals(e.id) || (r.host === e.host && r.port === e.port),
    );
    if (same >= 0) b.replacements.splice(same, 1);
    b.replacements.push(e);
    if (b.replacements.length > this.k) b.replacements.shift();
  }

  #split(): void {
    const depth = this.#buckets.length - 1;
    const old = this.#buckets[depth]!;
    const near: Bucket = { nodes: [], replacements: [], lastChanged: old.lastChanged };
    const stays = (e: RoutingEntry): boolean => commonPrefixBits(this.ownId, e.id) === depth;
    near.nodes = old.nodes.filter((e) => !stays(e));
    near.replacements = old.replacements.filter((e) => !stays(e));
    old.nodes = old.nodes.filter(stays);
    old.replacements = old.replacements.filter(stays);
    this.#buckets.push(near);
  }
}
