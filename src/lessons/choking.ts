import { torrentStatus } from '../session/status.js';
import type { Lesson } from './lesson.js';
import { average, Received, secs } from './lesson.js';
import { aHalf, kib, type LessonPeer, type LessonSwarm, lessonContent } from './swarm.js';

const FAST = 3;
const SLOW = 3;

export const choking: Lesson = {
  name: 'choking',
  title: 'choking: tit-for-tat, you get as you give',
  explain: [
    'Six leechers each start with a different half of the file. A, B and C upload fast (256 KiB/s); D, E and',
    'F slowly (32 KiB/s). Each leecher has two upload slots plus one "optimistic" slot: every 10 s it unchokes',
    'the two peers that sent it the most and chokes the rest (tit-for-tat). The fast ones come to keep their',
    'slots for each other, so they download faster; the slow ones live mostly on optimistic unchokes.',
    'Below, "B -> A C F*" means B is uploading to A, C and F (* the optimistic one).',
  ],
  async run(swarm: LessonSwarm) {
    const data = lessonContent(24 * 1024 * 1024, 'choking');
    const metainfo = swarm.torrent('choking.bin', data, 256 * 1024);
    const seeder = await swarm.addPeer('seeder', metainfo, data, { seeder: true, uploadLimit: 64 * 1024 });
    const leechers: LessonPeer[] = [];
    for (let i = 0; i < FAST + SLOW; i++) {
      const holds = aHalf(`choking ${i}`);
      leechers.push(
        await swarm.addPeer(String.fromCharCode(65 + i), metainfo, data, {
          uploadLimit: i < FAST ? 256 * 1024 : 32 * 1024,
          uploadSlots: 2,
          holds,
        }),
      );
    }
    const fast = leechers.slice(0, FAST);
    const slow = leechers.slice(FAST);
    const received = new Received(swarm, leechers);
    swarm.every(5000, () => {
      swarm.out.line(`t=${swarm.elapsed.toFixed(1).padStart(4)}s`);
      for (const l of leechers) {
        const to = torrentStatus(l.session)
          .peers.filter((p) => !p.amChoking && p.peerInterested)
          .map((p) => `${swarm.nameOf(p.address)}${p.optimistic ? '*' : ''}`);
        swarm.out.line(
          `   ${l.name} -> ${to.join(' ').padEnd(16)} ${l.session.have.count}/${metainfo.pieceCount} chunks, down ${kib(l.session.down.current)}`,
        );
      }
    });
    await swarm.go();
    // Tit-for-tat is between leechers: measure until the first of them is done (then it seeds and gives to
    // anyone), at most 26 s (two rechokes after the first).
    await swarm.waitFor(() => leechers.some((l) => l.session.complete), 26_000);
    received.sample();
    const window = swarm.elapsed;
    const fromLeechers = (l: LessonPeer): number =>
      received.from(l, (address) => address !== seeder.address) / window;
    const fastRates = fast.map(fromLeechers);
    const slowRates = slow.map(fromLeechers);
    const fastNames = new Set(fast.map((l) => l.address));
    // How many of the fast leechers' regular (not optimistic) slots hold another fast leecher at the end.
    const regular = fast.flatMap((l) =>
      torrentStatus(l.session).peers.filter((p) => !p.amChoking && !p.optimistic),
    );
    const toFast = regular.filter((p) => fastNames.has(p.address)).length;
    return {
      ok: average(fastRates) > average(slowRates),
      proof:
        `over the first ${secs(window)} the fast uploaders A-C (256 KiB/s) got ${fastRates.map(kib).join(', ')} from the other leechers, ` +
        `the slow D-F (32 KiB/s) ${slowRates.map(kib).join(', ')}; fast on average ${(average(fastRates) / average(slowRates)).toFixed(1)}x the slow; ` +
        `at the end ${toFast}/${regular.length} regular slots of the fast leechers went to fast ones`,
    };
  },
};
