import { torrentStatus } from '../session/status.js';
import type { Lesson } from './lesson.js';
import { average, holdings } from './lesson.js';
import { type LessonPeer, type LessonSwarm, lessonContent } from './swarm.js';

const LEECHERS = 5;

/** How many of `peers` hold each chunk. */
function availability(peers: readonly LessonPeer[], pieceCount: number): number[] {
  const out = new Array<number>(pieceCount).fill(0);
  for (const p of peers) for (let i = 0; i < pieceCount; i++) if (p.session.have.has(i)) out[i]!++;
  return out;
}

/** `0:12 1:30 2:22 ...`: how many chunks are held by 0, 1, 2, ... leechers. */
function histogram(avail: readonly number[], max: number): string {
  const counts = new Array<number>(max + 1).fill(0);
  for (const a of avail) counts[a]!++;
  return counts.map((n, k) => `${k}:${String(n).padStart(2)}`).join(' ');
}

export const rarestFirst: Lesson = {
  name: 'rarest-first',
  title: 'rarest first: fetch the chunk fewest peers hold',
  explain: [
    'One seeder holds the file; five leechers start empty. Each leecher asks first for the chunk the fewest',
    'of its peers hold, so every chunk soon has a copy in the swarm, not just the popular ones.',
    'The seeder leaves as soon as the leechers hold every chunk between them, long before any of them',
    'has the whole file: they must finish from each other. Watch "held by k leechers": the count of',
    'chunks held by 0 leechers falls to zero first, then the others move right.',
  ],
  async run(swarm: LessonSwarm) {
    const data = lessonContent(4 * 1024 * 1024, 'rarest-first');
    const metainfo = swarm.torrent('rarest.bin', data, 64 * 1024);
    const n = metainfo.pieceCount;
    const seeder = await swarm.addPeer('seeder', metainfo, data, { seeder: true, uploadLimit: 512 * 1024 });
    const leechers: LessonPeer[] = [];
    for (let i = 0; i < LEECHERS; i++)
      leechers.push(await swarm.addPeer(`L${i + 1}`, metainfo, data, { uploadLimit: 256 * 1024 }));

    // Each time a leecher starts a chunk (its first request for it shows up): how many other peers held
    // that chunk, against the other chunks the same sender could have given it instead. Rarest first means
    // the first number is the smaller. Looked at every 50 ms: a 64 KiB chunk is in flight far longer.
    const picked: number[] = [];
    const alternatives: number[] = [];
    let rarestTaken = 0;
    const started = new Map(leechers.map((l) => [l, new Set<number>()]));
    swarm.every(50, () => {
      for (const l of leechers) {
        const seen = started.get(l)!;
        const peers = torrentStatus(l.session).peers;
        const inFlight = new Set(peers.flatMap((p) => p.requesting));
        for (const peer of peers) {
          const sender = swarm.present.find((p) => p.address === peer.address);
          for (const index of peer.requesting) {
            if (seen.has(index)) continue;
            seen.add(index);
            // The first few chunks are picked at random on purpose (something to trade, fast).
            if (!sender || l.session.have.count < 4) continue;
            const avail = availability(
              swarm.present.filter((p) => p !== l),
              n,
            );
            const others: number[] = [];
            for (let i = 0; i < n; i++)
              if (sender.session.have.has(i) && !l.session.have.has(i) && !inFlight.has(i))
                others.push(avail[i]!);
            if (others.length === 0) continue;
            picked.push(avail[index]!);
            alternatives.push(average(others));
            if (avail[index]! <= Math.min(...others)) rarestTaken++;
          }
        }
      }
    });

    swarm.out.line(`\n${n} chunks of 64 KiB; "held by k: c" = c chunks are held by k leechers`);
    swarm.every(1000, () => {
      const avail = availability(leechers, n);
      swarm.out.line(
        `t=${swarm.elapsed.toFixed(1).padStart(4)}s  held by ${histogram(avail, LEECHERS)}  rarest: ${Math.min(...avail)}  | ${holdings(leechers)}`,
      );
    });
    await swarm.go();

    const spread = await swarm.waitFor(() => Math.min(...availability(leechers, n)) >= 1, 40_000);
    const leftAt = swarm.elapsed;
    const copies = seeder.session.uploaded / metainfo.totalLength;
    const rarestWhenLeft = Math.min(...availability(leechers, n));
    swarm.out.line(
      `t=${leftAt.toFixed(1)}s  the leechers hold every chunk between them: the seeder leaves (it sent ${copies.toFixed(2)}x the file)`,
    );
    await swarm.leave(seeder);
    const done = await swarm.waitFor(() => leechers.every((l) => l.session.complete), 40_000);
    const last = Math.max(...leechers.map((l) => l.finishedAt ?? swarm.elapsed));
    const pickedAvg = average(picked);
    const otherAvg = average(alternatives);
    return {
      ok:
        spread && done && rarestWhenLeft >= 1 && pickedAvg <= otherAvg && rarestTaken >= 0.8 * picked.length,
      proof:
        `${rarestTaken}/${picked.length} chunks the leechers started were the rarest their sender had (held by ${pickedAvg.toFixed(2)} other peers on average, the sender's other chunks by ${otherAvg.toFixed(2)}); ` +
        `every chunk was in the swarm at t=${leftAt.toFixed(1)} s (rarest held by ${rarestWhenLeft}), when the seeder left having sent ${copies.toFixed(2)}x the file; ` +
        `${leechers.filter((l) => l.session.complete).length}/${LEECHERS} leechers completed from each other by t=${last.toFixed(1)} s`,
    };
  },
};
