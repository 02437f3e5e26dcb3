import type { BenchOptions } from './args.js';
import type { ProcessGroup } from './procs.js';

/** What a scenario gets from the runner. */
export interface ScenarioContext {
  opts: BenchOptions;
  /** a temp folder of its own, removed afterwards */
  dir: string;
  /** every process the scenario starts goes here, so the runner can stop them all */
  group: ProcessGroup;
  /** path of the built chunkswarm CLI */
  bin: string;
  log: (msg: string) => void;
  /** set with --profile: write chunkswarm CPU profiles here */
  profileDir: string | null;
}

/** One line of the printed table. */
export interface Row {
  figure: string;
  chunkswarm: string;
  reference: string;
  /** chunkswarm relative to the reference, when that means something */
  ratio: string;
  target: string;
  /** 'met' | 'MISSED' | '' (no target) | 'n/a' (no figure) */
  verdict: string;
}

export interface FigureResult {
  rows: Row[];
  /** everything measured, for bench/results/<date>.json */
  data: Record<string, unknown>;
}

export function verdict(met: boolean | null): string {
  if (met === null) return 'n/a';
  return met ? 'met' : 'MISSED';
}

export function fmt(v: number | null | undefined, digits = 1, unit = ''): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '-';
  return `${v.toFixed(digits)}${unit}`;
}
