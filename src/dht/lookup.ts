/**
 * An iterative Kademlia lookup (BEP 5's find_node and get_peers): ask the closest nodes we know about
 * the target, ask the closer ones they name, stop when the K closest that answered have all been asked.
 * Pure: the caller sends what `next()` returns and reports each answer or timeout.
 *
 * Bounded: at most `alpha` queries in flight, each endpoint asked once, at most `maxCandidates`
 * candidates kept and `maxQueries` queries sent, so a lookup ends in a small or isolated network and no
 * answer can grow it without bound.
 */
import { compareDistance } from './distance.js';
import type { Endpoint, NodeContact } from './krpc.js';

export interface LookupOptions {
  /** How many closest answering nodes make the result (BEP 5: K = 8). */
  readonly k?: number;
  /** Queries in flight at once. */
  readonly alpha?: number;
  /** Most queries one lookup sends. */
  readonly maxQueries?: number;
  /** Most candidates kept, closest first. */
  readonly maxCandidates?: number;
  /** Our own id: others name us among the nodes close to a target, and asking ourselves only times out. */
  readonly ownId?: Buffer;
}

type State = 'new' | 'asked' | 'answered' | 'failed';

interface Candidate {
  readonly endpoint: Endpoint;
  /** Unknown for a bootstrap node until it answers. */
  id: Buffer | undefined;
  state: State;
  /** The token it gave with a get_peers answer (for announce_peer). */
  token: Buffer | undefined;
}

export interface LookupResult {
  /** The closest nodes that answered, closest first, with their tokens when they gave one. */
  readonly closest: { readonly node: NodeContact; readonly token: Buffer | undefined }[];
  readonly queries: number;
  readonly answered: number;
  readonly failed: number;
}

function key(e: Endpoint): string {
  return `${e.host}:${e.port}`;
}

export class Lookup {
  readonly target: Buffer;
  readonly #k: number;
  readonly #alpha: number;
  readonly #maxQueries: number;
  readonly #maxCandidates: number;
  readonly #ownId: Buffer | undefined;
  readonly #byKey = new Map<string, Candidate>();
  /** Candidates with an id, closest first. Bootstrap nodes without one sit in `#anonymous`. */
  #sorted: Candidate[] = [];
  #anonymous: Candidate[] = [];
  /** Endpoints ever seen, so an endpoint dropped for space is not taken in (and asked) again. */
  readonly #seen = new Set<string>();
  #inFlight = 0;
  #queries = 0;
  #answered = 0;
  #failed = 0;

  constructor(target: Buffer, seeds: readonly (Endpoint & { id?: Buffer })[], opts: LookupOptions = {}) {
    this.target = target;
    this.#k = opts.k ?? 8;
    this.#alpha = opts.alpha ?? 3;
    this.#maxQueries = opts.maxQueries ?? 128;
    this.#maxCandidates = opts.maxCandidates ?? this.#k * 8;
    this.#ownId = opts.ownId;
    for (const s of seeds) this.#add({ host: s.host, port: s.port }, s.id);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get queries(): number {
    return this.#queries;
  }

  #add(endpoint: Endpoint, id: Buffer | undefined): void {
    const k = key(endpoint);
    if (this.#seen.has(k) || (id !== undefined && this.#ownId?.equals(id))) return;
    this.#seen.add(k);
    const c: Candidate = { endpoint, id, state: 'new', token: undefined };
    this.#byKey.set(k, c);
    if (id === undefined) {
      this.#anonymous.push(c);
      return;
    }
    this.#insertSorted(c);
  }

  #insertSorted(c: Candidate): void {
    const id = c.id!;
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareDistance(this.#sorted[mid]!.id!, id, this.target) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.#sorted.splice(lo, 0, c);
    // Past the cap, the farthest candidates that nobody is waiting on are forgotten.
    while (this.#sorted.length > this.#maxCandidates) {
      const far = this.#sorted.length - 1;
      const c2 = this.#sorted[far]!;
      if (c2.state === 'asked') break;
      this.#sorted.pop();
      this.#byKey.delete(key(c2.endpoint));
    }
  }

  /**
   * Whether the lookup is over: nothing in flight and either the query budget is spent or each of the K
   * closest candidates still standing has answered (or none is left to ask).
   */
  get done(): boolean {
    if (this.#inFlight > 0) return false;
    if (this.#queries >= this.#maxQueries) return true;
    return this.#nextToAsk(1).length === 0;
  }

  #nextToAsk(max: number): Candidate[] {
    const out: Candidate[] = [];
    for (const c of this.#anonymous) {
      if (out.length >= max) return out;
      if (c.state === 'new') out.push(c);
    }
    let live = 0;
    for (const c of this.#sorted) {
      if (out.length >= max || live >= this.#k) break;
      if (c.state === 'failed') continue;
      live++;
      if (c.state === 'new') out.push(c);
    }
    return out;
  }

  /** The endpoints to query now; each is marked as asked. */
  next(): Endpoint[] {
    const room = Math.min(this.#alpha - this.#inFlight, this.#maxQueries - this.#queries);
    if (room <= 0) return [];
    const picked = this.#nextToAsk(room);
    for (const c of picked) {
      c.state = 'asked';
      this.#inFlight++;
      this.#queries++;
    }
    return picked.map((c) => c.endpoint);
  }

  /** An answer from `from` (its id, the closer nodes it named, and its token for get_peers). */
  answered(from: Endpoint, id: Buffer, nodes: readonly NodeContact[], token?: Buffer): void {
    const c = this.#byKey.get(key(from));
    if (c === undefined || c.state !== 'asked') return;
    this.#inFlight--;
    this.#answered++;
    c.state = 'answered';
    c.token = token;
    if (c.id === undefined) {
      // A bootstrap node: now that it has an id it takes its place by distance.
      c.id = Buffer.from(id);
      this.#anonymous = this.#anonymous.filter((x) => x !== c);
      this.#insertSorted(c);
    } else if (!c.id.equals(id)) {
      // It answered under another id than the one we were told: keep the place, trust the answer less.
      c.id = Buffer.from(id);
      this.#sorted = this.#sorted.filter((x) => x !== c);
      this.#insertSorted(c);
    }
    for (const n of nodes) this.#add({ host: n.host, port: n.port }, n.id);
  }

  /** `from` did not answer in time, or answered with an error. */
  failed(from: Endpoint): void {
    const c = this.#byKey.get(key(from));
    if (c === undefined || c.state !== 'asked') return;
    this.#inFlight--;
    this.#failed++;
    c.state = 'failed';
  }

  result(): LookupResult {
    const closest: LookupResult['closest'] = [];
    for (const c of this.#sorted) {
      if (closest.length >= this.#k) break;
      if (c.state === 'answered' && c.id !== undefined) {
        closest.push({ node: { ...c.endpoint, id: c.id }, token: c.token });
      }
    }
    return { closest, queries: this.#queries, answered: this.#answered, failed: this.#failed };
  }
}
