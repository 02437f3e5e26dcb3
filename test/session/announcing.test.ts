/**
 * A tracker that cannot be reached, on the fake clock: asked again after about 2, 4, 8 ... s (capped at a
 * few minutes), registered as soon as it answers, then asked at its interval; a download left without
 * peers asks again soon rather than at the interval.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RETRY_CAP_MS, retryDelay } from '../../src/session/announcing.js';
import type { TorrentSession } from '../../src/session/session.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { FakeClock } from '../../src/shared/clock.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import type { ClientAnnounceParams, TrackerAnswer } from '../../src/tracker/index.js';
import { makeTorrent } from '../magnet/helpers.js';
import { offlineSession } from './torrents.js';

/** A tracker that is down until `upAt` (fake ms), then answers with `peers`. */
class TrackerThatComesUp {
  readonly calls: { at: number; event: string | undefined }[] = [];
  constructor(
    private readonly clock: FakeClock,
    public upAt: number,
    public peers: { ip: string; port: number }[] = [],
    /** What the answer says of leechers; null leaves `incomplete` out, as some trackers do. */
    public leechers: number | null = 1,
  ) {}
  async announceEvery(params: ClientAnnounceParams): Promise<TrackerAnswer> {
    this.calls.push({ at: this.clock.now(), event: params.event });
    if (this.clock.now() < this.upAt) throw new ChunkswarmError('ETRACKER_UNREACHABLE', 'connection refused');
    const { leechers: incomplete, peers } = this;
    return {
      url: 'http://tracker/announce',
      interval: 1800,
      complete: 1,
      ...(incomplete === null ? {} : { incomplete }),
      peers,
    };
  }
}

function session(
  clock: FakeClock,
  tracker: TrackerThatComesUp | undefined,
  opts: { complete?: boolean; firstHalfOnly?: boolean } = {},
): TorrentSession {
  const metainfo = makeTorrent(8);
  const have = new Bitfield(metainfo.pieceCount);
  const half = Math.ceil(metainfo.pieceCount / 2);
  for (let i = 0; i < metainfo.pieceCount; i++)
    if (opts.complete || (opts.firstHalfOnly && i < half)) have.set(i);
  // With firstHalfOnly, only the pieces it holds are wanted: done, not complete (a file selection).
  const priorities = opts.firstHalfOnly
    ? Array.from({ length: metainfo.pieceCount }, (_, i) => (i < half ? 1 : 0))
    : undefined;
  const s = offlineSession(clock, metainfo, {
    have,
    ...(priorities ? { priorities } : {}),
    ...(tracker ? { announcer: tracker } : {}),
  });
  s.start();
  return s;
}

/**
 * A seeder whose tracker names one leecher it cannot reach (nobody answers on this network), so it never has
 * anyone to serve; checks that over 240 s it asked again at 15, 30, 60 and 120 s apart, give or take the
 * one-second tick. `leechers` is what the tracker says of them (null: it leaves `incomplete` out).
 */
async function idleSeederAsks(leechers: number | null) {
  const clock = new FakeClock(0);
  const tracker = new TrackerThatComesUp(clock, 0, [{ ip: '127.0.0.9', port: 6881 }], leechers);
  const s = session(clock, tracker, { complete: true });
  await s.connectTracker();
  await clock.advanceAsync(240_000);
  const gaps = tracker.calls.slice(1).map((c, i) => c.at - tracker.calls[i]!.at);
  assert.equal(gaps.length, 4, JSON.stringify(tracker.calls));
  [15_000, 30_000, 60_000, 120_000].forEach((want, i) => {
    assert.ok(gaps[i]! >= want && gaps[i]! <= want + 1000, `gap ${i}: ${gaps[i]} ms`);
  });
  return { clock, tracker, s };
}

describe('announcing on the fake clock', () => {
  it('backs off from 2 s, doubling, capped at a few minutes, with jitter', () => {
    const mid = () => 0.5;
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelay(n, mid)),
      [2000, 4000, 8000, 16000],
    );
    assert.equal(retryDelay(30, mid), RETRY_CAP_MS);
    assert.ok(retryDelay(1, () => 0) >= 1600 && retryDelay(1, () => 0.999) <= 2400);
  });

  it('a tracker down at start is asked again in seconds, and registers us as soon as it is up', async () => {
    const clock = new FakeClock(0);
    const tracker = new TrackerThatComesUp(clock, 3000);
    const s = session(clock, tracker);
    const failures: number[] = [];
    s.events.on('announce-failed', (_reason, retryIn) => failures.push(retryIn));
    await assert.rejects(s.connectTracker(), /connection refused/);
    await clock.advanceAsync(20_000);
    // Tried at 0, about 2 s, about 6 s: the third try (after the tracker came up at 3 s) is answered.
    assert.equal(tracker.calls.length, 3, JSON.stringify(tracker.calls));
    assert.ok(tracker.calls[2]!.at <= 3000 + 4800, `registered at ${tracker.calls[2]!.at} ms`);
    assert.deepEqual(
      tracker.calls.map((c) => c.event),
      ['started', 'started', 'started'],
      'started is sent until a tracker heard it',
    );
    assert.equal(failures.length, 2);
    assert.equal(s.announcing.reachable, true);
    // Then at the tracker's interval (1800 s), not sooner... except that a download with no peers asks
    // again every 15 s: this one has none (nobody answers on this network).
    await clock.advanceAsync(60_000);
    const later = tracker.calls.slice(3);
    assert.ok(later.length >= 3 && later.length <= 5, `${later.length} announces in a minute without peers`);
    assert.ok(later.every((c) => c.event === undefined));
    await s.stop({ announce: false });
  });

  it('a seeder (nothing to fetch) keeps to the interval', async () => {
    const clock = new FakeClock(0);
    const tracker = new TrackerThatComesUp(clock, 0);
    const s = session(clock, tracker);
    s.setMode('seed');
    await s.connectTracker();
    await clock.advanceAsync(1_000_000);
    assert.equal(tracker.calls.length, 1);
    await clock.advanceAsync(900_000);
    assert.equal(tracker.calls.length, 2);
    await s.stop({ announce: false });
  });

  it('a seeder with nobody to serve asks again while its tracker says leechers remain, twice as late each time', async () => {
    const { clock, tracker, s } = await idleSeederAsks(1);
    // The tracker now says no leecher remains: the ask already due (at about 465 s) hears it, and then the
    // seeder keeps to the interval.
    tracker.leechers = 0;
    await clock.advanceAsync(600_000);
    assert.equal(tracker.calls.length, 6, JSON.stringify(tracker.calls.map((c) => c.at)));
    await s.stop({ announce: false });
  });

  it('a seeder whose tracker does not say how many leechers remain asks again all the same, twice as late each time', async () => {
    // Before, an answer without `incomplete` counted as "no leecher": the seeder waited the whole interval.
    const { clock, tracker, s } = await idleSeederAsks(null);
    // Bounded: the waits reach the interval (1800 s) and stay there.
    await clock.advanceAsync(7_200_000);
    const late = tracker.calls.filter((c) => c.at > 3_600_000).map((c) => c.at);
    late.slice(1).forEach((at, i) => {
      assert.ok(at - late[i]! >= 1_800_000, `asked ${at - late[i]!} ms apart after the first hour`);
    });
    await s.stop({ announce: false });
  });

  it('a download done with the files it selected keeps to the interval when no leecher remains', async () => {
    // It asked every 15 s before, as if it still lacked something.
    const clock = new FakeClock(0);
    const tracker = new TrackerThatComesUp(clock, 0, [], 0);
    const s = session(clock, tracker, { firstHalfOnly: true });
    assert.equal(s.done && !s.complete, true, 'done, not complete');
    await s.connectTracker();
    await clock.advanceAsync(600_000);
    assert.equal(tracker.calls.length, 1, JSON.stringify(tracker.calls.map((c) => c.at)));
    await s.stop({ announce: false });
  });

  it('a trackerless torrent has nobody to announce to: connectTracker says so once and plans nothing', async () => {
    const clock = new FakeClock(0);
    const s = session(clock, undefined);
    const failures: string[] = [];
    s.events.on('announce-failed', (reason) => failures.push(reason));
    await assert.rejects(s.connectTracker(), /the torrent names no tracker/);
    await clock.advanceAsync(600_000);
    assert.deepEqual(failures, []);
    assert.equal(s.announcing.nextAt, undefined);
    await s.stop({ announce: false });
  });
});
