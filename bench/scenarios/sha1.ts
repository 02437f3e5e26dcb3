/**
 * Figure 4, the hashing ceiling: SHA-1 throughput of one core through node:crypto, one hash per
 * 1 MiB piece as a verifying peer computes them. A single-process download cannot verify faster
 * than this unless it hashes on more than one core, so it bounds what the pair figure can reach.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type FigureResult, fmt, type ScenarioContext } from '../lib/context.js';
import { keystream } from '../lib/datafile.js';
import { round } from '../lib/stats.js';

const PIECE = 1 << 20;

/** MB/s of SHA-1 over `mib` pieces of 1 MiB. */
export function sha1Throughput(mib: number): { mbps: number; seconds: number; digest: string } {
  const buf = Buffer.alloc(PIECE);
  keystream(4)(buf);
  // a warm-up so the first-call costs (lazy init of the digest) stay out of the figure
  for (let i = 0; i < 8; i++) createHash('sha1').update(buf).digest();
  let last = '';
  const t0 = performance.now();
  for (let i = 0; i < mib; i++) {
    // vary one byte per piece so no layer can reuse a previous result
    buf[0] = i & 0xff;
    last = createHash('sha1').update(buf).digest('hex');
  }
  const seconds = (performance.now() - t0) / 1000;
  return { mbps: (mib * PIECE) / 1e6 / seconds, seconds, digest: last };
}

export async function runSha1(ctx: ScenarioContext): Promise<FigureResult> {
  const r = sha1Throughput(ctx.opts.sha1MiB);
  ctx.log(`sha1: ${ctx.opts.sha1MiB} MiB in ${fmt(r.seconds, 2)} s, ${fmt(r.mbps, 0)} MB/s`);
  return {
    rows: [
      {
        figure: `SHA-1, one core, 1 MiB pieces, MB/s (${ctx.opts.sha1MiB} MiB)`,
        chunkswarm: fmt(r.mbps, 0),
        reference: '',
        ratio: '',
        target: 'ceiling for pair',
        verdict: '',
      },
    ],
    data: { mib: ctx.opts.sha1MiB, pieceBytes: PIECE, seconds: round(r.seconds), mbps: round(r.mbps, 1) },
  };
}
