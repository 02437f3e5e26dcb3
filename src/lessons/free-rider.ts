import { torrentStatus } from '../session/status.js';
import type { Lesson } from './lesson.js';
import { average, holdings, secs } from './lesson.js';
import { aHalf, kib, type LessonPeer, type LessonSwarm, lessonContent } from './swarm.js';

const HONEST = 8;

export const freeRider: Lesson = {
  name: 'free-rider',
  title: 'the free rider: download without uploading',
  explain: [
    'Eight honest leechers, each holding a different half of the file, trade (up to 256 KiB/s up each).',
    'The free rider F starts empty and takes, but never unchokes anyone: it uploads nothing. Every 10 s',
    'each leecher keeps its four upload slots for the peers that send it the most (tit-for-tat), so F',
    "loses its slots and lives on the seeder's small share and the optimistic unchokes that give every",
    'peer a chance. Watch F fall behind until the honest leechers finish and, as seeders, give to anyone',
    '(the free rider included: it catches up then, and finishes after most of them).',
  ],
  async run(swarm: LessonSwarm) {
    const data = lessonContent(6 * 1024 * 1024, 'free-rider');
    const metainfo = swarm.torrent('free-rider.bin', data, 128 * 1024);
    await swarm.addPeer('seeder', metainfo, data, { seeder: true, uploadLimit: 128 * 1024 });
    const honest: LessonPeer[] = [];
    // Each honest leecher starts with a different half of the file, so they all have something to trade
    // with each other from the first second to nearly the last.
    for (let i = 0; i < HONEST; i++) {
      const holds = aHalf(`free-rider ${i}`);
      honest.push(await swarm.addPeer(`L${i + 1}`, metainfo, data, { uploadLimit: 256 * 1024, holds }));
    }
    const rider = await swarm.addPeer('F (free)', metainfo, data, { uploadLimit: 1 });
    // The free rider's whole trick (its own peer's behaviour, so it acts on its connections): whoever its choker lets in is choked again at once (a CHOKE drops the
    // peer's requests), so nothing ever leaves it. Its 1 byte/s upload limit backs that up.
    swarm.every(20, () => {
      for (const conn of rider.session.peers.values()) if (!conn.amChoking) conn.setChoking(true);
    });
    const leechers = [...honest, rider];
    swarm.every(2000, () => {
      const rates = leechers.map((l) => `${l.name.split(' ')[0]} ${kib(l.session.down.current)}`).join('  ');
      const feeding = honest.filter((l) =>
        torrentStatus(l.session).peers.some((p) => p.address === rider.address && !p.amChoking),
      );
      swarm.out.line(
        `t=${swarm.elapsed.toFixed(1).padStart(4)}s  ${holdings(leechers)}\n         down: ${rates}\n         F unchoked by ${feeding.length}/${HONEST} honest leechers`,
      );
    });
    await swarm.go();
    // Tit-for-tat works between leechers: measure while every honest leecher still downloads. Once one
    // is done it seeds, and a seeder gives to anyone, the free rider included.
    await swarm.waitFor(() => honest.some((l) => l.session.complete), 50_000);
    const window = swarm.elapsed;
    const rate = (l: LessonPeer): number => l.session.downloaded / window;
    const honestAvg = average(honest.map(rate));
    const riderRate = rate(rider);
    swarm.out.line(
      `t=${window.toFixed(1)}s  ${honest.find((l) => l.session.complete)!.name} is done and seeds`,
    );
    const done = await swarm.waitFor(() => leechers.every((l) => l.session.complete), 40_000);
    const finishes = honest.map((l) => l.finishedAt ?? swarm.elapsed).sort((a, b) => a - b);
    const lastHonest = finishes[finishes.length - 1]!;
    // Once honest leechers seed they serve anyone, the free rider included, so the last one or two of
    // them and the free rider finish close together; that it comes after most of them is the point.
    const medianHonest = finishes[Math.floor(finishes.length / 2)]!;
    const riderBehind = rider.finishedAt === undefined || rider.finishedAt >= medianHonest;
    return {
      ok: done && riderRate < honestAvg && riderBehind,
      proof:
        `while all were leeching (the first ${secs(window)}) the free rider downloaded at ${kib(riderRate)}, the honest leechers at ${kib(honestAvg)} on average (${(riderRate / honestAvg).toFixed(2)}x); ` +
        `it uploaded ${rider.session.uploaded} bytes, they ${kib(average(honest.map((l) => l.session.uploaded)) / lastHonest)} each; ` +
        `half the honest leechers were done by ${secs(medianHonest)} and all by ${secs(lastHonest)}, the free rider ${rider.finishedAt === undefined ? 'not done' : `at ${secs(rider.finishedAt)}`}${riderBehind ? ' (behind most)' : ''}`,
    };
  },
};
