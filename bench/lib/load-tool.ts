/**
 * What the two announce loads (wrk with announce.lua, and udp-announce.ts) have in common: each
 * runs in its own process, optionally pinned with taskset, and prints one `TAG key=number ...`
 * line last that the bench reads.
 */
import { execFile } from 'node:child_process';

export interface ResultLine {
  line: string;
  /** the number after `key=`; throws when the line lacks it */
  need(key: string): number;
}

/**
 * The first line of `output` starting with `TAG `, and its numeric fields. With `textFrom` (such as
 * ' error='), whatever follows it is free text and is not searched for fields.
 */
export function readResultLine(output: string, tag: string, textFrom?: string): ResultLine | null {
  const line = output.split('\n').find((l) => l.startsWith(`${tag} `));
  if (!line) return null;
  const cut = textFrom === undefined ? -1 : line.indexOf(textFrom);
  const fields = new Map<string, number>();
  for (const m of (cut >= 0 ? line.slice(0, cut) : line).matchAll(/(\w+)=([\d.]+)/g))
    fields.set(m[1] as string, Number(m[2]));
  return {
    line,
    need(key) {
      const v = fields.get(key);
      if (v === undefined || !Number.isFinite(v)) throw new Error(`${tag} result line lacks ${key}: ${line}`);
      return v;
    },
  };
}

export interface ToolRun {
  /** run under `taskset -c CPUS` */
  cpus?: string | undefined;
  cwd?: string | undefined;
  /** how long the load runs; the process is killed 30 s after that */
  seconds: number;
}

/** Runs `cmd args`, resolves with `parse(stdout)`, rejects with the tool's last words when that is null. */
export function runLoadTool<T>(
  what: string,
  cmd: string,
  args: string[],
  run: ToolRun,
  parse: (stdout: string) => T | null,
): Promise<T> {
  const [file, argv] = run.cpus ? ['taskset', ['-c', run.cpus, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
      { cwd: run.cwd, timeout: (run.seconds + 30) * 1000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const parsed = parse(stdout);
        if (parsed) resolve(parsed);
        else
          reject(
            new Error(
              `${what} gave no result${err ? ` (${err.message})` : ''}: ${(stderr || stdout).trim().slice(-300)}`,
            ),
          );
      },
    );
  });
}
