/** Runs wrk with bench/announce.lua and reads the BENCH_WRK line it prints. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BENCH_DIR } from './clients.js';
import { readResultLine, runLoadTool } from './load-tool.js';

export const ANNOUNCE_LUA = join(BENCH_DIR, 'announce.lua');

export interface WrkResult {
  /** requests wrk completed (a reply was read) */
  requests: number;
  /** 200 replies without "failure reason" */
  ok: number;
  /** replies with another HTTP status */
  notOk: number;
  /** 200 replies that carried a bencoded "failure reason" */
  refused: number;
  durationSeconds: number;
  errConnect: number;
  errRead: number;
  errWrite: number;
  errTimeout: number;
  errStatus: number;
  p50Ms: number;
  p99Ms: number;
}

export function parseWrkResult(output: string): WrkResult | null {
  const r = readResultLine(output, 'BENCH_WRK');
  if (!r) return null;
  const need = r.need;
  return {
    requests: need('requests'),
    ok: need('ok'),
    notOk: need('not_ok'),
    refused: need('refused'),
    durationSeconds: need('duration_s'),
    errConnect: need('err_connect'),
    errRead: need('err_read'),
    errWrite: need('err_write'),
    errTimeout: need('err_timeout'),
    errStatus: need('err_status'),
    p50Ms: need('p50_ms'),
    p99Ms: need('p99_ms'),
  };
}

/**
 * Announces that got an answer. wrk counts a request once it has read a whole reply, even when the
 * server closes the connection right after (opentracker does, without saying "Connection: close",
 * and wrk books a read error for each): those requests succeeded. Non-200 replies and tracker
 * refusals are not announces served.
 */
export function servedAnnounces(r: WrkResult): number {
  return Math.max(0, r.requests - r.notOk - r.refused);
}

export interface WrkLoad {
  url: string;
  swarmsFile: string;
  seconds: number;
  threads?: number;
  connections?: number;
  peers?: number;
  numwant?: number;
  /** run wrk under `taskset -c CPUS` */
  cpus?: string;
}

export function runWrk(load: WrkLoad): Promise<WrkResult> {
  const args = [
    `-t${load.threads ?? 2}`,
    `-c${load.connections ?? 64}`,
    `-d${load.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    ANNOUNCE_LUA,
    load.url,
    '--',
    load.swarmsFile,
    String(load.peers ?? 20000),
    String(load.numwant ?? 50),
  ];
  return runLoadTool('wrk', 'wrk', args, load, parseWrkResult);
}

/** `count` reproducible infohashes, 40 hex per line. */
export function swarmHashes(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(createHash('sha1').update(`bench-swarm-${i}`).digest('hex'));
  return out;
}
