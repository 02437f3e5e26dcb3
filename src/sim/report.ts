/** What a simulation run prints and writes: a short table, the progress as JSON, and an SVG plot. */
import type { SimResult, Swarm } from './swarm.js';

const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '-' : x.toFixed(digits));

/** The figures as `name  value` lines. */
export function formatResult(r: SimResult): string {
  const rows: [string, string][] = [
    [
      'scenario',
      `${r.scenario} (${r.mode === 'loopback' ? 'real sockets on 127.0.0.1, real time' : 'simulated'})`,
    ],
    ['peers (leechers to finish)', `${r.peers} (${r.leechers})`],
    ['capacities', capacitiesText(r)],
    [
      'torrent',
      `${(r.torrentBytes / 1024 / 1024).toFixed(1)} MiB, ${r.pieceCount} pieces, checked by ${
        r.hasher === 'sha1' ? 'SHA-1' : 'byte comparison with the generated content (not SHA-1)'
      }`,
    ],
    ['all finished', r.allComplete ? 'yes' : `no: ${r.incomplete} did not`],
    [`last finish (${r.mode === 'loopback' ? 'real' : 'virtual'} time)`, `${fmt(r.lastFinish)} s`],
    ['median finish', `${fmt(r.medianFinish)} s`],
    ['fluid bound T*', `${fmt(r.fluidBound)} s`],
    ['efficiency T*/T_last', r.efficiency === undefined ? '-' : `${(r.efficiency * 100).toFixed(1)} %`],
    ['copies the seeders sent', fmt(r.seederCopies, 2)],
    [
      'share ratio min/median/max',
      `${fmt(r.shareRatio.min, 2)} / ${fmt(r.shareRatio.median, 2)} / ${fmt(r.shareRatio.max, 2)}`,
    ],
  ];
  if (r.freeRiderFinish.length > 0)
    rows.push(['free riders finished at', r.freeRiderFinish.map((t) => `${fmt(t)} s`).join(', ')]);
  for (const c of r.corruptBans) rows.push([`corrupt ${c.address} banned by`, `${c.bannedBy} peers`]);
  rows.push(['pieces failing their check', String(r.hashFailures)]);
  rows.push(['pieces stored wrong', String(r.badPieces)]);
  rows.push([r.mode === 'loopback' ? 'elapsed' : 'virtual time', `${fmt(r.virtualSeconds)} s`]);
  rows.push(['wall time', `${fmt(r.wallSeconds, 2)} s`]);
  rows.push(['clock steps / network events', `${r.clockSteps} / ${r.networkEvents}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/**
 * How the run capped its peers. Loopback has its Clients' limits and no link queue, so the simulator run it
 * compares with most closely is the one with `"uplinks": "limit"` (see The simulator in docs/ARCHITECTURE.md).
 */
function capacitiesText(r: SimResult): string {
  const { model, latencyMs } = r.capacities;
  if (r.mode === 'loopback')
    return 'each peer\'s own rate limits on 127.0.0.1 (compare with "uplinks": "limit" in the simulator)';
  return model === 'link'
    ? `links with a queue, ${latencyMs} ms of latency`
    : `each peer's own rate limits over an unlimited link, ${latencyMs} ms of latency`;
}

/** Per-peer progress over virtual time, and the figures. */
export function progressJson(swarm: Swarm, result: SimResult): unknown {
  return {
    result,
    peers: swarm.peers.map((p) => ({
      name: p.name,
      role: p.role,
      address: p.address,
      upBytesPerSecond: Number.isFinite(p.up) ? p.up : null,
      downBytesPerSecond: Number.isFinite(p.down) ? p.down : null,
      joinedAt: p.joinedAt === undefined ? null : p.joinedAt / 1000,
      completedAt: p.completedAt === undefined ? null : p.completedAt / 1000,
      leftAt: p.leftAt === undefined ? null : p.leftAt / 1000,
      uploaded: p.uploaded,
      downloaded: p.downloaded,
      samples: p.samples,
    })),
  };
}

const COLOURS: Record<string, string> = {
  seeder: '#2a7f2a',
  leecher: '#3465a4',
  'free-rider': '#cc0000',
  corrupt: '#f57900',
};

/** One polyline per peer: fraction held against virtual seconds. */
export function progressSvg(swarm: Swarm, result: SimResult): string {
  const W = 800;
  const H = 420;
  const left = 50;
  const bottom = 40;
  const top = 30;
  const right = 20;
  const tMax = Math.max(1, result.virtualSeconds);
  const x = (t: number): string => (left + (t / tMax) * (W - left - right)).toFixed(1);
  const y = (f: number): string => (top + (1 - f) * (H - top - bottom)).toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13">${escapeXml(result.scenario)}: progress of each peer (${result.peers} peers)</text>`,
    `<line x1="${left}" y1="${y(0)}" x2="${W - right}" y2="${y(0)}" stroke="black"/>`,
    `<line x1="${left}" y1="${y(0)}" x2="${left}" y2="${y(1)}" stroke="black"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const f = i / 4;
    parts.push(
      `<text x="${left - 6}" y="${y(f)}" text-anchor="end" dominant-baseline="middle">${f * 100}%</text>`,
    );
    const t = (tMax * i) / 4;
    parts.push(`<text x="${x(t)}" y="${H - bottom + 16}" text-anchor="middle">${t.toFixed(0)} s</text>`);
  }
  parts.push(`<text x="${(W + left) / 2}" y="${H - 6}" text-anchor="middle">virtual time</text>`);
  for (const p of swarm.peers) {
    if (p.samples.length === 0 || p.role === 'seeder' || p.role === 'corrupt') continue;
    const pts = p.samples.map(([t, f]) => `${x(t)},${y(f)}`);
    if (p.leftAt === undefined) {
      const last = p.samples[p.samples.length - 1]!;
      pts.push(`${x(tMax)},${y(last[1])}`);
    }
    parts.push(
      `<polyline fill="none" stroke="${COLOURS[p.role] ?? 'gray'}" stroke-opacity="0.6" stroke-width="1" points="${pts.join(' ')}"><title>${escapeXml(p.name)}</title></polyline>`,
    );
  }
  let ly = top + 10;
  for (const [role, colour] of Object.entries(COLOURS)) {
    if (!swarm.peers.some((p) => p.role === role) || role === 'seeder' || role === 'corrupt') continue;
    parts.push(
      `<line x1="${W - 130}" y1="${ly}" x2="${W - 110}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${W - 105}" y="${ly}" dominant-baseline="middle">${role}</text>`,
    );
    ly += 16;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** ", about 6 min of wall left": the pieces still missing at the pace of the last ten virtual seconds. */
export function wallLeft(
  before: { wall: number; share: number } | undefined,
  now: { wall: number; share: number },
): string {
  if (before === undefined || now.share <= before.share || now.share >= 1) return '';
  const seconds = ((1 - now.share) * (now.wall - before.wall)) / (now.share - before.share);
  return seconds < 90
    ? `, about ${Math.ceil(seconds)} s of wall left`
    : `, about ${Math.round(seconds / 60)} min of wall left`;
}
