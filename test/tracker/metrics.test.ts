import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkswarmError } from '../../src/shared/errors.js';
import {
  MemorySwarmStore,
  STORE_UNAVAILABLE,
  startTracker,
  sumSnapshots,
  TrackerMetrics,
} from '../../src/tracker/server/index.js';
import { outcomeOf } from '../../src/tracker/server/metrics.js';
import { announceQuery, failureOf, httpGet } from './helpers.js';

/** The value of one sample line of an exposition text; undefined when the line is missing. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('TrackerMetrics', () => {
  it('tells outcomes apart by the error that ended the request', () => {
    assert.equal(outcomeOf(new ChunkswarmError('ETRACKER_REQUEST', 'missing info_hash')), 'bad_request');
    assert.equal(outcomeOf(new ChunkswarmError('ETRACKER_FAILURE', 'swarm is full')), 'refused');
    assert.equal(outcomeOf(new ChunkswarmError('ETRACKER_FAILURE', STORE_UNAVAILABLE)), 'unavailable');
    assert.equal(
      outcomeOf(new ChunkswarmError('ETRACKER_FAILURE', 'cannot record', { cause: new Error('disk full') })),
      'unavailable',
    );
    assert.equal(outcomeOf(new TypeError('bug')), 'error');
  });

  it('renders counters, a cumulative histogram and gauges in the Prometheus text format', () => {
    const m = new TrackerMetrics();
    m.announce('http', 'ok', 0.00004);
    m.announce('http', 'ok', 0.003);
    m.announce('udp', 'unavailable', 2);
    m.scrape('udp', 'ok');
    const text = m.render({ swarms: 3, peers: 7, seeders: 2 }, 'memory');
    assert.equal(sample(text, 'chunkswarm_tracker_announces_total{transport="http",result="ok"}'), 2);
    assert.equal(sample(text, 'chunkswarm_tracker_announces_total{transport="udp",result="unavailable"}'), 1);
    assert.equal(sample(text, 'chunkswarm_tracker_scrapes_total{transport="udp",result="ok"}'), 1);
    assert.equal(sample(text, 'chunkswarm_tracker_announce_duration_seconds_bucket{le="0.00005"}'), 1);
    assert.equal(sample(text, 'chunkswarm_tracker_announce_duration_seconds_bucket{le="0.005"}'), 2);
    assert.equal(sample(text, 'chunkswarm_tracker_announce_duration_seconds_bucket{le="1"}'), 2);
    assert.equal(sample(text, 'chunkswarm_tracker_announce_duration_seconds_bucket{le="+Inf"}'), 3);
    assert.equal(sample(text, 'chunkswarm_tracker_announce_duration_seconds_count'), 3);
    assert.equal(sample(text, 'chunkswarm_tracker_store_errors_total'), 1);
    assert.equal(sample(text, 'chunkswarm_tracker_store_up{store="memory"}'), 1);
    assert.equal(sample(text, 'chunkswarm_tracker_peers'), 7);
    // Every sample line belongs to a family declared before it, with HELP and TYPE.
    const declared = new Set<string>();
    for (const line of text.trimEnd().split('\n')) {
      const meta = /^# (HELP|TYPE) (\S+) /.exec(line);
      if (meta) declared.add(meta[2]!);
      else
        assert.ok(
          [...declared].some((f) => line.startsWith(f)),
          line,
        );
    }
    // A store that could not answer: store_up 0 and no gauges.
    const down = m.render(undefined, 'redis');
    assert.equal(sample(down, 'chunkswarm_tracker_store_up{store="redis"}'), 0);
    assert.equal(sample(down, 'chunkswarm_tracker_peers'), undefined);
  });

  it('adds up several processes as if one had counted', () => {
    const a = new TrackerMetrics();
    const b = new TrackerMetrics();
    a.announce('http', 'ok', 0.001);
    b.announce('http', 'ok', 0.2);
    b.announce('udp', 'refused', 0.001);
    const one = new TrackerMetrics();
    one.announce('http', 'ok', 0.001);
    one.announce('http', 'ok', 0.2);
    one.announce('udp', 'refused', 0.001);
    assert.deepEqual(sumSnapshots([a.snapshot(), b.snapshot()]), one.snapshot());
  });
});

describe('/metrics on a running tracker', () => {
  it('counts announces and scrapes by result and reports the memory store', async () => {
    const t = await startTracker({
      port: 0,
      udp: false,
      store: new MemorySwarmStore({ maxPeersPerSwarm: 1 }),
    });
    try {
      const get = (path: string) => httpGet('127.0.0.1', t.port, path);
      assert.equal(failureOf((await get(`/announce?${announceQuery(1, 1, '&left=0')}`)).body), undefined);
      assert.match(failureOf((await get(`/announce?${announceQuery(1, 2)}`)).body) ?? '', /swarm is full/);
      assert.ok(failureOf((await get('/announce?port=1')).body));
      await get('/scrape');
      const res = await get('/metrics');
      assert.equal(res.status, 200);
      const text = res.body.toString();
      const ann = (r: string) =>
        sample(text, `chunkswarm_tracker_announces_total{transport="http",result="${r}"}`);
      assert.equal(ann('ok'), 1);
      assert.equal(ann('refused'), 1);
      assert.equal(ann('bad_request'), 1);
      assert.equal(sample(text, 'chunkswarm_tracker_scrapes_total{transport="http",result="ok"}'), 1);
      assert.equal(sample(text, 'chunkswarm_tracker_store_up{store="memory"}'), 1);
      assert.equal(sample(text, 'chunkswarm_tracker_swarms'), 1);
      assert.equal(sample(text, 'chunkswarm_tracker_seeders'), 1);
      // No address anywhere in it.
      assert.doesNotMatch(text, /127\.0\.0\.1/);
    } finally {
      await t.close();
    }
  });
});
