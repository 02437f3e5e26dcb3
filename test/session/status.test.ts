/** What a stalled download says it waits for: the pure rule case by case, then a real swarm missing a chunk. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeChunks, type StallInput, waitingFor } from '../../src/session/status.js';

const moving: StallInput = {
  complete: false,
  mode: 'auto',
  paused: false,
  failure: undefined,
  peers: 3,
  hasTrackers: true,
  tracker: { state: 'ok', lastError: undefined, nextAt: 1_800_000, peers: 3 },
  now: 0,
  nobodyHas: [],
  usefulPeers: 2,
  usefulUnchoking: 1,
  usefulSilent: 0,
  downRate: 0,
};

describe('waitingFor', () => {
  it('says nothing while the download moves, or once it is complete, or in the shell', () => {
    assert.equal(waitingFor({ ...moving, downRate: 1000 }), undefined);
    // With no peer at all, bytes still coming come from a web seed.
    assert.equal(waitingFor({ ...moving, peers: 0, downRate: 1000 }), undefined);
  });

  it('with no peer, a web seed at work is no stall; a failing one is named, with its next try', () => {
    const web = { url: 'http://127.0.0.1:8000/', downloaded: 0, lastError: undefined, retryAt: undefined };
    const x = { ...moving, peers: 0, now: 1000, hasTrackers: false };
    assert.equal(waitingFor({ ...x, webSeeds: [{ ...web, state: 'fetching' }] }), undefined);
    assert.equal(
      waitingFor({
        ...x,
        webSeeds: [{ ...web, state: 'retrying', lastError: 'HTTP 404 Not Found', retryAt: 9000 }],
      }),
      'no peers, and web seed http://127.0.0.1:8000/ failed: HTTP 404 Not Found, next try in 8 s',
    );
    assert.equal(
      waitingFor({ ...x, webSeeds: [{ ...web, state: 'banned' }] }),
      'no peers: the torrent names no tracker, and no peer has connected',
    );
    assert.equal(waitingFor({ ...moving, complete: true, peers: 0 }), undefined);
    assert.equal(waitingFor({ ...moving, mode: 'manual', peers: 0 }), undefined);
  });

  it('names a tracker that does not answer, with the time of the next try', () => {
    const x = { ...moving, peers: 0, now: 1000 };
    const lastError = 'cannot reach http://127.0.0.1:6969: connection refused (ECONNREFUSED)';
    const failing = { state: 'failing', lastError, nextAt: 5000, peers: 0 } as const;
    assert.equal(waitingFor({ ...x, tracker: failing }), `no peers: ${lastError}, next try in 4 s`);
    assert.equal(
      waitingFor({ ...x, tracker: { ...moving.tracker, peers: 0, nextAt: 61_000 } }),
      'no peers yet: the tracker knows no other peer, and peers that announce later will connect to us, next announce in 60 s',
    );
    assert.equal(
      waitingFor({ ...x, hasTrackers: false, tracker: { ...failing, state: 'off' } }),
      'no peers: the torrent names no tracker, and no peer has connected',
    );
  });

  it('names the chunks nobody connected holds, and peers that all choke us', () => {
    assert.equal(waitingFor({ ...moving, usefulPeers: 0, nobodyHas: [7] }), 'no connected peer has chunk 7');
    assert.equal(
      waitingFor({ ...moving, usefulUnchoking: 0 }),
      'all 2 peers with chunks we lack choke us (waiting for an unchoke)',
    );
    assert.equal(
      waitingFor({ ...moving, usefulPeers: 1, usefulUnchoking: 0 }),
      'the one peer with chunks we lack chokes us (waiting for an unchoke)',
    );
    assert.equal(
      waitingFor({ ...moving, failure: 'cannot store chunk 3: disk full' }),
      'cannot store chunk 3: disk full',
    );
    assert.equal(waitingFor({ ...moving, paused: true }), 'paused');
  });

  it('names peers that let us ask but stopped sending, once every one of them has', () => {
    assert.equal(
      waitingFor({ ...moving, usefulSilent: 1 }),
      'the one peer with chunks we lack stopped sending (waiting for it to resume or for another peer)',
    );
    assert.equal(
      waitingFor({ ...moving, usefulUnchoking: 2, usefulSilent: 2 }),
      'all 2 peers with chunks we lack stopped sending (waiting for them to resume or for another peer)',
    );
    // One of two still answers: it is only slow.
    assert.equal(waitingFor({ ...moving, usefulUnchoking: 2, usefulSilent: 1 }), undefined);
  });

  it('describes chunks briefly', () => {
    assert.equal(describeChunks([7]), 'chunk 7');
    assert.equal(describeChunks([3, 7, 9]), 'chunks 3, 7 and 9');
    assert.equal(describeChunks([3, 7, 9, 12, 15]), 'chunks 3, 7, 9 and 2 more');
  });
});
