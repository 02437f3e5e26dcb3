/**
 * `npm start -- --lesson NAME`: a scripted swarm on 127.0.0.1 that shows one idea of BitTorrent, with the
 * tracker's and every peer's page open, and ends by itself with a `proof:` line of measured numbers.
 */

import { choking } from './choking.js';
import { corruptPeer } from './corrupt-peer.js';
import { freeRider } from './free-rider.js';
import type { Lesson } from './lesson.js';
import { rarestFirst } from './rarest-first.js';
import { superSeeding } from './super-seeding.js';
import { type LessonOutput, LessonSwarm } from './swarm.js';

export const LESSONS: readonly Lesson[] = [rarestFirst, choking, freeRider, corruptPeer, superSeeding];

export function lessonNames(): string[] {
  return LESSONS.map((l) => l.name);
}

/** Runs one lesson to its end; true when its numbers make the point. */
export async function runLesson(name: string, out: LessonOutput): Promise<boolean> {
  const lesson = LESSONS.find((l) => l.name === name);
  if (!lesson) throw new Error(`no lesson ${name}; the lessons are ${lessonNames().join(', ')}`);
  out.line(`== lesson: ${lesson.title} ==`);
  for (const line of lesson.explain) out.line(`   ${line}`);
  out.line('');
  const swarm = await LessonSwarm.start(out);
  try {
    const result = await lesson.run(swarm);
    out.line(`\nproof: ${result.proof}`);
    if (!result.ok) out.line('(this run did not make the point: the numbers above say how it went)');
    return result.ok;
  } finally {
    await swarm.close();
  }
}
