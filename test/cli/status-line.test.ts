import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusLine } from '../../src/cli/download.js';
import { countOf } from '../../src/cli/format.js';
import type { TorrentProgress } from '../../src/shared/status.js';

test('a count says its noun in the singular for one only', () => {
  assert.deepEqual(
    [0, 1, 2].map((n) => countOf(n, 'peer')),
    ['0 peers', '1 peer', '2 peers'],
  );
});

function status(peers: number, waitingFor?: string, webSeeds = 0): TorrentProgress {
  return {
    infoHash: '00'.repeat(20),
    name: 'big.bin',
    size: 96 * 2 ** 20,
    have: 39,
    done: 39 * 2 ** 20,
    pieceCount: 96,
    downRate: 5.5 * 2 ** 20,
    upRate: 0,
    peerCount: peers,
    webSeedCount: webSeeds,
    waitingFor,
  };
}

test("a download's log line: chunks, rates, peers, and what it waits for", () => {
  assert.equal(statusLine(status(1)), 'big.bin: 39/96 chunks, 5.5 MiB/s down, 0 B/s up, 1 peer');
  assert.equal(
    statusLine(status(0, 'no peers')),
    'big.bin: 39/96 chunks, 5.5 MiB/s down, 0 B/s up, 0 peers (waiting: no peers)',
  );
  assert.equal(
    statusLine(status(0, undefined, 1)),
    'big.bin: 39/96 chunks, 5.5 MiB/s down, 0 B/s up, 0 peers + 1 web seed',
  );
});
