/**
 * The tracker's counters, and their rendering in the Prometheus text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Pure: the tracker counts, and
 * whoever serves `/metrics` asks for the text. No label carries an address or an infohash: the
 * numbers can be shown to anyone.
 *
 * Counting costs a few array increments per request, so it is always on, on the fast path too.
 */
import { isChunkswarmError } from '../../shared/errors.js';
import { type AnySwarmStore, STORE_UNAVAILABLE, type StoreTotals } from './store.js';

export type Transport = 'http' | 'udp';
export const TRANSPORTS: readonly Transport[] = ['http', 'udp'];

/**
 * How a request ended: answered; refused as malformed (`bad_request`); refused by the tracker's
 * rules, such as a full swarm (`refused`); not served because the store could not be reached
 * (`unavailable`); or a bug (`error`).
 */
export type Outcome = 'ok' | 'bad_request' | 'refused' | 'unavailable' | 'error';
export const OUTCOMES: readonly Outcome[] = ['ok', 'bad_request', 'refused', 'unavailable', 'error'];

/** The outcome an error thrown while serving a request stands for. */
export function outcomeOf(err: unknown): Outcome {
  if (isChunkswarmError(err, 'ETRACKER_REQUEST')) return 'bad_request';
  if (isChunkswarmError(err, 'ETRACKER_FAILURE')) {
    // A refusal by the rules has no cause; a store that failed (unreachable, disk full) has one.
    return err.message === STORE_UNAVAILABLE || err.cause !== undefined ? 'unavailable' : 'refused';
  }
  return 'error';
}

/** Upper bounds (seconds) of the announce latency histogram: 50 µs, a memory announce, to 1 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** The counters as plain numbers, for the tracker's page. */
export interface MetricsSnapshot {
  readonly announces: Readonly<Record<Transport, Readonly<Record<Outcome, number>>>>;
  readonly scrapes: Readonly<Record<Transport, Readonly<Record<Outcome, number>>>>;
  readonly storeErrors: number;
  /** Announce latency in seconds: count, sum, and the bucket bounds with how many fell at or under each. */
  readonly latency: {
    readonly count: number;
    readonly sum: number;
    readonly buckets: readonly [number, number][];
  };
}

const T = TRANSPORTS.length;
const O = OUTCOMES.length;

const OUTCOME_INDEX: Readonly<Record<Outcome, number>> = {
  ok: 0,
  bad_request: 1,
  refused: 2,
  unavailable: 3,
  error: 4,
};

function slot(t: Transport, o: Outcome): number {
  return (t === 'http' ? 0 : O) + OUTCOME_INDEX[o];
}

export class TrackerMetrics {
  readonly #announces = new Float64Array(T * O);
  readonly #scrapes = new Float64Array(T * O);
  /** Per bucket (not cumulative; +Inf last). */
  readonly #buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  #latencyCount = 0;
  #latencySum = 0;
  #storeErrors = 0;

  /** One announce, with how long it took to answer in seconds. */
  announce(transport: Transport, outcome: Outcome, seconds: number): void {
    this.#announces[slot(transport, outcome)]!++;
    if (outcome === 'unavailable') this.#storeErrors++;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.#buckets[i]!++;
    this.#latencyCount++;
    this.#latencySum += seconds;
  }

  scrape(transport: Transport, outcome: Outcome): void {
    this.#scrapes[slot(transport, outcome)]!++;
    if (outcome === 'unavailable') this.#storeErrors++;
  }

  snapshot(): MetricsSnapshot {
    const table = (a: Float64Array) =>
      Object.fromEntries(
        TRANSPORTS.map((t) => [t, Object.fromEntries(OUTCOMES.map((o) => [o, a[slot(t, o)]!]))]),
      ) as MetricsSnapshot['announces'];
    let cum = 0;
    const buckets: [number, number][] = LATENCY_BUCKETS.map((le, i) => {
      cum += this.#buckets[i]!;
      return [le, cum];
    });
    return {
      announces: table(this.#announces),
      scrapes: table(this.#scrapes),
      storeErrors: this.#storeErrors,
      latency: { count: this.#latencyCount, sum: this.#latencySum, buckets },
    };
  }

  /** The exposition text of this process's counters (see renderMetrics). */
  render(totals: StoreTotals | undefined, storeKind: string): string {
    return renderMetrics(this.snapshot(), totals, storeKind);
  }
}

/** Counters of several processes (`--workers`) added up, as one process would have counted them. */
export function sumSnapshots(list: readonly MetricsSnapshot[]): MetricsSnapshot {
  const table = (pick: (m: MetricsSnapshot) => MetricsSnapshot['announces']) =>
    Object.fromEntries(
      TRANSPORTS.map((t) => [
        t,
        Object.fromEntries(OUTCOMES.map((o) => [o, list.reduce((n, m) => n + (pick(m)[t]?.[o] ?? 0), 0)])),
      ]),
    ) as MetricsSnapshot['announces'];
  return {
    announces: table((m) => m.announces),
    scrapes: table((m) => m.scrapes),
    storeErrors: list.reduce((n, m) => n + m.storeErrors, 0),
    latency: {
      count: list.reduce((n, m) => n + m.latency.count, 0),
      sum: list.reduce((n, m) => n + m.latency.sum, 0),
      buckets: LATENCY_BUCKETS.map((le, i) => [
        le,
        list.reduce((n, m) => n + (m.latency.buckets[i]?.[1] ?? 0), 0),
      ]),
    },
  };
}

/**
 * The exposition text of `s`. `totals`: the store's gauges, undefined when the store could not
 * say (then `chunkswarm_tracker_store_up` is 0 and the gauges are left out).
 */
export function renderMetrics(
  s: MetricsSnapshot,
  totals: StoreTotals | undefined,
  storeKind: string,
): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const counters = (name: string, what: string, tbl: MetricsSnapshot['announces']) => {
    family(name, 'counter', `${what} answered, by transport and result.`);
    for (const t of TRANSPORTS) {
      for (const o of OUTCOMES) out.push(`${name}{transport="${t}",result="${o}"} ${tbl[t][o]}`);
    }
  };
  counters('chunkswarm_tracker_announces_total', 'Announces', s.announces);
  counters('chunkswarm_tracker_scrapes_total', 'Scrapes', s.scrapes);
  family(
    'chunkswarm_tracker_announce_duration_seconds',
    'histogram',
    'Time from a parsed announce to its answer, store round trip included.',
  );
  for (const [le, n] of s.latency.buckets) {
    out.push(`chunkswarm_tracker_announce_duration_seconds_bucket{le="${le}"} ${n}`);
  }
  out.push(`chunkswarm_tracker_announce_duration_seconds_bucket{le="+Inf"} ${s.latency.count}`);
  out.push(`chunkswarm_tracker_announce_duration_seconds_sum ${s.latency.sum}`);
  out.push(`chunkswarm_tracker_announce_duration_seconds_count ${s.latency.count}`);
  family(
    'chunkswarm_tracker_store_errors_total',
    'counter',
    'Requests not served because the swarm store failed or could not be reached.',
  );
  out.push(`chunkswarm_tracker_store_errors_total ${s.storeErrors}`);
  family('chunkswarm_tracker_store_up', 'gauge', 'Whether the swarm store answered this scrape of /metrics.');
  out.push(`chunkswarm_tracker_store_up{store="${storeKind}"} ${totals === undefined ? 0 : 1}`);
  if (totals !== undefined) {
    family('chunkswarm_tracker_swarms', 'gauge', 'Swarms in the store (all trackers sharing it).');
    out.push(`chunkswarm_tracker_swarms ${totals.swarms}`);
    family('chunkswarm_tracker_peers', 'gauge', 'Peers in the store, seeders included, not yet expired.');
    out.push(`chunkswarm_tracker_peers ${totals.peers}`);
    family('chunkswarm_tracker_seeders', 'gauge', 'Seeders in the store.');
    out.push(`chunkswarm_tracker_seeders ${totals.seeders}`);
  }
  return `${out.join('\n')}\n`;
}

/** The store's kind (`memory`, `sqlite`, `redis`), as /metrics and the page name it. */
export function storeKind(store: AnySwarmStore): string {
  const name = store.constructor.name;
  return name.replace(/SwarmStore$/, '').toLowerCase() || 'custom';
}
