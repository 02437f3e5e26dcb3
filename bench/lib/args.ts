/** Command-line options of `npm run bench -- ...`. */
import { parseArgs } from 'node:util';

export const FIGURES = ['pair', 'swarm', 'tracker', 'sha1', 'dht', 'fleet'] as const;
export type Figure = (typeof FIGURES)[number];

export interface BenchOptions {
  only: Figure[];
  /** pair rounds per client (alternating) */
  rounds: number;
  /** pair file size in MiB */
  sizeMiB: number;
  /** pair: also chunkswarm rounds whose leecher runs with `--trace --web 127.0.0.1:0` (a row of its own) */
  pairTrace: boolean;
  /** swarm file size in MiB */
  swarmMiB: number;
  /** swarm piece length in KiB */
  swarmPieceKiB: number;
  /** leechers in the swarm */
  leechers: number;
  /** per-process upload cap in the swarm, MiB/s */
  uplinkMiB: number;
  /** seconds of measured wrk load per tracker */
  trackerSeconds: number;
  /** MiB hashed for the SHA-1 ceiling */
  sha1MiB: number;
  /** sizes of the simulated DHT networks */
  dhtNodes: number[];
  /** get_peers lookups measured in each DHT network */
  dhtLookups: number;
  /** run chunkswarm processes with --cpu-prof and summarise the profiles */
  profile: boolean;
  /** skip `npm run build` */
  build: boolean;
  /** measure the last commit, cloned and built in the temp folder */
  committed: boolean;
  /** keep temp files (for a post-mortem) */
  keep: boolean;
  /** refuse to measure (exit 3) when the 1-minute load average is above 1 */
  quietCheck: boolean;
  /** where the results JSON goes (default bench/results/<date>.json) */
  out: string | null;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]
  --only LIST         figures to run, comma-separated: ${FIGURES.join(',')} (default: all)
  --rounds N          pair rounds per client, alternating (default 3)
  --size-mib N        pair file size in MiB (default 1024)
  --pair-trace        pair: also chunkswarm rounds with the leecher's wire trace on
                      (--trace --web 127.0.0.1:0), reported beside the plain ones
  --swarm-mib N       swarm file size in MiB (default 128)
  --swarm-piece-kib N swarm piece length in KiB, a power of two from 16 (default 1024)
  --leechers N        swarm leechers (default 8)
  --uplink-mib N      swarm upload cap per process in MiB/s (default 8)
  --tracker-seconds N measured wrk seconds per tracker, fleet runs too (default 10)
  --sha1-mib N        MiB hashed for the SHA-1 ceiling (default 512)
  --dht-nodes LIST    sizes of the simulated DHT networks, comma-separated (default 200,5000)
  --dht-lookups N     get_peers lookups measured in each DHT network (default 20)
  --profile           run chunkswarm with --cpu-prof and print its top functions
  --no-build          do not run \`npm run build\` first
  --committed         measure the last commit: clone it into the temp folder and build it there,
                      so uncommitted edits and rebuilds of dist/ during the run cannot touch it
  --keep              keep the temp folder
  --quiet-check       refuse to measure (exit 3, one line) when the 1-minute load average is
                      above 1: other work on the machine skews the ratios
  --out FILE          results file (default bench/results/<YYYY-MM-DD>.json)
  -h, --help          this text`;

export class UsageError extends Error {}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} needs a whole number >= 1, got "${raw}"`);
  return n;
}

/** A piece length BitTorrent allows: a power of two, 16 KiB at least. */
function pieceKiB(raw: string | undefined): number {
  const n = positiveInt('swarm-piece-kib', raw, 1024);
  if (n < 16 || (n & (n - 1)) !== 0)
    throw new UsageError(`--swarm-piece-kib needs a power of two from 16, got "${raw}"`);
  return n;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  let only: Figure[] = [...FIGURES];
  if (v.only !== undefined) {
    const names = v.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = names.filter((n) => !(FIGURES as readonly string[]).includes(n));
    if (bad.length > 0 || names.length === 0) {
      throw new UsageError(`--only takes ${FIGURES.join(', ')}; got "${v.only}"`);
    }
    only = FIGURES.filter((f) => names.includes(f));
  }
  return {
    only,
    rounds: positiveInt('rounds', v.rounds, 3),
    sizeMiB: positiveInt('size-mib', v['size-mib'], 1024),
    pairTrace: v['pair-trace'] === true,
    swarmMiB: positiveInt('swarm-mib', v['swarm-mib'], 128),
    swarmPieceKiB: pieceKiB(v['swarm-piece-kib']),
    leechers: positiveInt('leechers', v.leechers, 8),
    uplinkMiB: positiveInt('uplink-mib', v['uplink-mib'], 8),
    trackerSeconds: positiveInt('tracker-seconds', v['tracker-seconds'], 10),
    sha1MiB: positiveInt('sha1-mib', v['sha1-mib'], 512),
    dhtNodes: (v['dht-nodes'] ?? '200,5000').split(',').map((x) => positiveInt('dht-nodes', x.trim(), 0)),
    dhtLookups: positiveInt('dht-lookups', v['dht-lookups'], 20),
    profile: v.profile === true,
    build: v['no-build'] !== true,
    committed: v.committed === true,
    keep: v.keep === true,
    quietCheck: v['quiet-check'] === true,
    out: v.out ?? null,
    help: v.help === true,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      only: { type: 'string' },
      rounds: { type: 'string' },
      'size-mib': { type: 'string' },
      'pair-trace': { type: 'boolean' },
      'swarm-mib': { type: 'string' },
      'swarm-piece-kib': { type: 'string' },
      leechers: { type: 'string' },
      'uplink-mib': { type: 'string' },
      'tracker-seconds': { type: 'string' },
      'sha1-mib': { type: 'string' },
      'dht-nodes': { type: 'string' },
      'dht-lookups': { type: 'string' },
      profile: { type: 'boolean' },
      'no-build': { type: 'boolean' },
      committed: { type: 'boolean' },
      keep: { type: 'boolean' },
      'quiet-check': { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
