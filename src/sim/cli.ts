/**
 * `npm run simulate -- <scenario.json> [--peers N] [--json out.json] [--svg out.svg] [--loopback]`: runs a
 * scenario on the simulator (or, with --loopback, in real time on 127.0.0.1) and prints its figures.
 * Reports; never fails on a figure. Exit 2 on bad usage.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { describeError } from '../shared/errors.js';
import { formatResult, progressJson, progressSvg, wallLeft } from './report.js';
import { parseScenario } from './scenario.js';
import { Swarm } from './swarm.js';

const USAGE =
  'usage: npm run simulate -- <scenario.json> [--peers N] [--json out.json] [--svg out.svg] [--loopback]';
/** Real sockets and real time: a check of the simulator with a few peers, not a load test. */
const MAX_LOOPBACK_PEERS = 40;

async function main(argv: string[]): Promise<number> {
  let file: string | undefined;
  let peers: number | undefined;
  let json: string | undefined;
  let svg: string | undefined;
  let loopback = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--peers') {
      peers = Number(value());
      if (!Number.isInteger(peers) || peers < 1) throw new Error('--peers must be a whole number >= 1');
    } else if (a === '--json') json = value();
    else if (a === '--svg') svg = value();
    else if (a === '--loopback') loopback = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (file === undefined) file = a;
    else throw new Error(`one scenario at a time (got ${file} and ${a})`);
  }
  if (file === undefined) throw new Error('which scenario? (sim/scenarios/*.json)');
  const scenario = parseScenario(JSON.parse(readFileSync(file, 'utf8')), { peers });
  const total = scenario.groups.reduce((a, g) => a + g.count, 0);
  if (loopback && total > MAX_LOOPBACK_PEERS)
    throw new Error(`--loopback runs at most ${MAX_LOOPBACK_PEERS} peers (this scenario has ${total})`);
  // Thousands of simulated peers throw (and catch) errors by the hundred thousand as they dial each other
  // ("already dialling", "connection limit reached"): capturing a stack for each was 6% of a 1,000-peer
  // run's start. The run reports messages only.
  if (!loopback) Error.stackTraceLimit = 0;
  const swarm = new Swarm(scenario, { loopback });
  // A line every 10 virtual seconds on stderr, so a long run shows where it is and about how long it has left.
  const t0 = performance.now();
  let before: { wall: number; share: number } | undefined;
  swarm.clock.setInterval(() => {
    const leechers = swarm.finishers;
    const held = leechers.reduce((a, p) => a + (p.session?.have.count ?? 0), 0);
    const done = leechers.filter((p) => p.completedAt !== undefined).length;
    const wall = (performance.now() - t0) / 1000;
    const share = held / (leechers.length * swarm.metainfo.pieceCount);
    process.stderr.write(
      `[${(swarm.now() / 1000).toFixed(0)} s ${loopback ? 'elapsed' : 'virtual'}, ${wall.toFixed(0)} s wall] ` +
        `${(100 * share).toFixed(1)}% of the pieces held, ${done}/${leechers.length} finished` +
        `${loopback ? '' : wallLeft(before, { wall, share })}\n`,
    );
    before = { wall, share };
  }, 10_000);
  const result = await swarm.run();
  process.stdout.write(`${formatResult(result)}\n`);
  if (json) writeFileSync(json, `${JSON.stringify(progressJson(swarm, result))}\n`);
  if (svg) writeFileSync(svg, progressSvg(swarm, result));
  await swarm.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`simulate: ${describeError(err)}\n${USAGE}\n`);
    process.exit(2);
  },
);
