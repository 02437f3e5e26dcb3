import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchArgs, UsageError } from '../lib/args.js';
import { measureDht, measureDhtUdp } from '../scenarios/dht.js';

test('--dht-nodes and --dht-lookups are read, and refused when not whole numbers', () => {
  const o = parseBenchArgs(['--only', 'dht', '--dht-nodes', '50, 300', '--dht-lookups', '4']);
  assert.deepEqual(o.only, ['dht']);
  assert.deepEqual(o.dhtNodes, [50, 300]);
  assert.equal(o.dhtLookups, 4);
  assert.deepEqual(parseBenchArgs([]).dhtNodes, [200, 5000]);
  assert.throws(() => parseBenchArgs(['--dht-nodes', '10,x']), UsageError);
});

test('the DHT figure measures every lookup of a small network', async () => {
  const f = await measureDht(40, 3);
  assert.equal(f.nodes, 40);
  assert.equal(f.found, 3, 'every lookup found the announced peer');
  assert.ok(f.queriesPerLookup.median >= 1);
  assert.ok(f.datagramsPerLookup.median >= 2 * f.queriesPerLookup.median - 2);
  assert.ok(f.lookupMs.median >= f.firstPeerMs.median);
});

test('the DHT figure over real UDP on loopback finds the announced peer', async () => {
  const f = await measureDhtUdp(12, 3);
  assert.equal(f.found, 3);
  assert.ok(f.queriesPerLookup.median >= 1);
});
