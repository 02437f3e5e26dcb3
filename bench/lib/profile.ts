/**
 * Reads the .cpuprofile files `node --cpu-prof` writes and lists where the time went, by function
 * self time, so a missed target comes with the functions that limit it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface HotFunction {
  name: string;
  /** file:line, project-relative when it is ours */
  where: string;
  selfMs: number;
  /** share of the busy (non-idle) time */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  idleMs: number;
  top: HotFunction[];
}

function where(frame: CallFrame, root: string): string {
  if (!frame.url) return '(native)';
  let u = frame.url.replace(/^file:\/\//, '');
  if (root && u.startsWith(root)) u = u.slice(root.length + 1);
  return `${u}:${frame.lineNumber + 1}`;
}

/** Self time per function (same name and place), busiest first. */
export function summariseProfile(profile: CpuProfile, file: string, root = '', topN = 12): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  let idleUs = 0;
  let busyUs = 0;
  for (let i = 0; i < samples.length; i++) {
    // the delta that follows a sample is the time spent in it (the last sample gets none)
    const us = deltas[i + 1] ?? 0;
    const node = byId.get(samples[i] as number);
    if (!node) continue;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const w = where(node.callFrame, root);
    const key = `${name}@${w}`;
    const entry = selfUs.get(key) ?? { name, where: w, us: 0 };
    entry.us += us;
    selfUs.set(key, entry);
  }
  const top = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({
      name: e.name,
      where: e.where,
      selfMs: e.us / 1000,
      percent: busyUs > 0 ? (100 * e.us) / busyUs : 0,
    }));
  return { file, busyMs: busyUs / 1000, idleMs: idleUs / 1000, top };
}

/** Summaries of every .cpuprofile in dir (none when the folder is missing). */
export function summariseProfileDir(dir: string, root = '', topN = 12): ProfileSummary[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  return names.sort().map((n) => {
    const profile = JSON.parse(readFileSync(join(dir, n), 'utf8')) as CpuProfile;
    return summariseProfile(profile, n, root, topN);
  });
}

export function formatProfile(s: ProfileSummary): string {
  const lines = [
    `${basename(s.file)}: busy ${(s.busyMs / 1000).toFixed(2)} s, idle ${(s.idleMs / 1000).toFixed(2)} s; top self time:`,
  ];
  for (const f of s.top)
    lines.push(
      `  ${f.percent.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`,
    );
  return lines.join('\n');
}
