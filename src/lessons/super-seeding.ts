import type { Lesson } from './lesson.js';
import { holdings, secs } from './lesson.js';
import { type LessonPeer, type LessonSwarm, lessonContent } from './swarm.js';

const LEECHERS = 4;

interface Run {
  readonly copies: number;
  readonly seconds: number;
  readonly done: boolean;
}

/**
 * One seeder, four leechers, one fresh torrent; `superSeed` false makes the seeder a plain one. The seeder
 * uploads at half the leechers' rate, as a home seeder facing a crowd does: with all five at the same rate
 * the two runs' copies came within 0.01x of each other in one run of six, too close for the lesson's point.
 */
async function swarmRun(swarm: LessonSwarm, superSeed: boolean): Promise<Run> {
  const label = superSeed ? 'with super-seeding' : 'without super-seeding';
  swarm.out.line(`\n-- ${label} --`);
  const data = lessonContent(2 * 1024 * 1024, `super-seeding ${superSeed}`);
  const metainfo = swarm.torrent(`super-${superSeed ? 'on' : 'off'}.bin`, data, 64 * 1024);
  const seeder = await swarm.addPeer(superSeed ? 'seeder' : 'seeder (off)', metainfo, data, {
    seeder: true,
    uploadLimit: 256 * 1024,
    superSeed,
  });
  const leechers: LessonPeer[] = [];
  for (let i = 0; i < LEECHERS; i++)
    leechers.push(
      await swarm.addPeer(`${superSeed ? 'L' : 'M'}${i + 1}`, metainfo, data, { uploadLimit: 512 * 1024 }),
    );
  const start = swarm.elapsed;
  const progress = setInterval(() => {
    const copies = seeder.session.uploaded / metainfo.totalLength;
    swarm.out.line(
      `t=${swarm.elapsed.toFixed(1).padStart(4)}s  seeder sent ${copies.toFixed(2)}x the file | ${holdings(leechers)}`,
    );
  }, 1000);
  await Promise.all([seeder, ...leechers].map((p) => p.session.connectTracker()));
  const done = await swarm.waitFor(() => leechers.every((l) => l.session.complete), 25_000);
  clearInterval(progress);
  const copies = seeder.session.uploaded / metainfo.totalLength;
  const seconds = swarm.elapsed - start;
  swarm.out.line(`${label}: all done in ${secs(seconds)}, the seeder sent ${copies.toFixed(2)}x the file`);
  for (const p of [seeder, ...leechers]) await swarm.leave(p);
  return { copies, seconds, done };
}

export const superSeeding: Lesson = {
  name: 'super-seeding',
  title: 'super-seeding: the seeder sends every chunk once before any chunk twice',
  explain: [
    "A seeder's upload is the swarm's scarcest resource. chunkswarm's seeder suggests to each leecher",
    'chunks nobody has been sent yet, so every chunk leaves it once before any leaves it twice, and the',
    'leechers trade the rest among themselves. The same swarm runs twice, with that and without it:',
    'watch how much of the file the seeder has to send before every leecher is done.',
  ],
  async run(swarm: LessonSwarm) {
    const on = await swarmRun(swarm, true);
    const off = await swarmRun(swarm, false);
    return {
      ok: on.done && off.done && on.copies < off.copies,
      proof:
        `seeder sent ${on.copies.toFixed(2)}x the file with super-seeding (all done in ${secs(on.seconds)}), ` +
        `${off.copies.toFixed(2)}x without (all done in ${secs(off.seconds)})`,
    };
  },
};
