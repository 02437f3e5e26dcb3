import { createHash } from 'node:crypto';
import { pieceSize } from '../metainfo/index.js';
import type { Storage } from '../storage/index.js';
import type { Lesson } from './lesson.js';
import { holdings, secs } from './lesson.js';
import { type LessonPeer, type LessonSwarm, lessonContent } from './swarm.js';

/** A storage that hands out even-numbered chunks with one byte flipped: what a broken or hostile peer sends. */
function corrupting(inner: Storage): Storage {
  return {
    layout: inner.layout,
    async read(index, begin, length, into) {
      const out = await inner.read(index, begin, length, into);
      if (index % 2 === 0 && out.length > 0) out[out.length >> 1]! ^= 0xff;
      return out;
    },
    writePiece: (index, data) => inner.writePiece(index, data),
    verifyExisting: (opts) => inner.verifyExisting(opts),
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
}

export const corruptPeer: Lesson = {
  name: 'corrupt-peer',
  title: 'the corrupt peer: every chunk is checked against its SHA-1',
  explain: [
    'Two seeders offer the file to two leechers: an honest one, and X, which flips a byte in every',
    'even-numbered chunk it sends. The .torrent holds the SHA-1 of every chunk, so a leecher hashes each',
    'chunk it receives and throws away one that does not match. A peer whose chunks fail three times is',
    'banned. The leechers still finish with the right bytes: they fetch those chunks again from the honest seeder.',
  ],
  async run(swarm: LessonSwarm) {
    const data = lessonContent(2 * 1024 * 1024, 'corrupt-peer');
    // 16 KiB chunks are one block each: every chunk comes from one peer, so a failure blames only its sender.
    const metainfo = swarm.torrent('corrupt.bin', data, 16 * 1024);
    await swarm.addPeer('seeder', metainfo, data, { seeder: true, uploadLimit: 192 * 1024 });
    const corrupt = await swarm.addPeer('X (corrupt)', metainfo, data, { seeder: true, wrap: corrupting });
    const leechers: LessonPeer[] = [];
    for (const name of ['L1', 'L2']) leechers.push(await swarm.addPeer(name, metainfo, data));
    const bans = new Map<LessonPeer, { failures: number; at: number }>();
    for (const l of leechers) {
      l.session.events.on('piece-failed', (index, peers) => {
        swarm.out.line(
          `t=${swarm.elapsed.toFixed(1)}s  ${l.name}: chunk ${index} from ${peers.map((p) => swarm.nameOf(p)).join(', ')} failed its SHA-1 check`,
        );
      });
      l.session.events.on('peer-banned', (address, why) => {
        if (address === corrupt.address) bans.set(l, { failures: l.session.hashFailures, at: swarm.elapsed });
        swarm.out.line(`t=${swarm.elapsed.toFixed(1)}s  ${l.name} bans ${swarm.nameOf(address)}: ${why}`);
      });
    }
    swarm.every(2000, () =>
      swarm.out.line(`t=${swarm.elapsed.toFixed(1).padStart(4)}s  ${holdings(leechers)}`),
    );
    await swarm.go();
    const done = await swarm.waitFor(() => leechers.every((l) => l.session.complete), 45_000);

    // Every chunk each leecher holds, hashed again here, and the whole file against the original.
    const want = createHash('sha1').update(data).digest('hex');
    let intact = 0;
    for (const l of leechers) {
      const whole = createHash('sha1');
      for (let i = 0; i < metainfo.pieceCount; i++) {
        if (l.session.have.has(i)) whole.update(await l.session.storage.read(i, 0, pieceSize(metainfo, i)));
      }
      if (whole.digest('hex') === want) intact++;
    }
    const banned = leechers.filter((l) => bans.has(l));
    const failures = leechers.map((l) => l.session.hashFailures);
    return {
      ok: done && banned.length === leechers.length && intact === leechers.length,
      proof:
        `X banned by ${banned.length}/${leechers.length} leechers (${banned.map((l) => `${l.name} after ${bans.get(l)!.failures} hash failures at ${secs(bans.get(l)!.at)}`).join(', ')}); ` +
        `${failures.reduce((a, b) => a + b, 0)} bad chunks thrown away in all; ` +
        `${intact}/${leechers.length} downloads complete with every chunk verified (SHA-1 of the whole file ${want.slice(0, 12)}… matches the original)`,
    };
  },
};
