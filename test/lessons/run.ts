/**
 * Runs a lesson the way a student does (`node dist/cli/demo.js --lesson NAME`, which `npm start -- --lesson
 * NAME` runs) as its own process, and hands back how it ended and its `proof:` line.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, requireBuild } from '../integration/harness.js';

export interface LessonRun {
  readonly code: number | null;
  readonly output: string;
  readonly proof: string;
}

/** Rejects when the lesson has not ended by itself after `timeoutMs` (it is then killed, by PID). */
export function runLesson(name: string, timeoutMs = 95_000): Promise<LessonRun> {
  requireBuild();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'demo.js'), '--lesson', name], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lesson ${name} did not end by itself within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    // 'close': the output is read to its end (the proof line is the last), not just the exit seen.
    child.once('close', (code) => {
      clearTimeout(timer);
      const proof = /^proof: (.*)$/m.exec(output)?.[1] ?? '';
      resolve({ code, output, proof });
    });
  });
}
