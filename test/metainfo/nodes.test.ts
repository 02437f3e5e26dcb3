import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from '../../src/codec/index.js';
import { parseMetainfo } from '../../src/metainfo/index.js';
import { singleInfo } from './helpers.js';

test('BEP 5 `nodes` of a trackerless torrent are read, odd entries skipped', () => {
  const m = parseMetainfo(
    encode({
      info: singleInfo(),
      nodes: [
        ['127.0.0.1', 6881],
        ['router.example.org', 1],
        ['[::1]', 6882],
        ['bad host', 1],
        ['10.0.0.1', 0],
        ['10.0.0.1', 70000],
        ['10.0.0.2'],
        'junk',
        [5, 5],
      ],
    }),
  );
  assert.deepEqual(m.nodes, [
    { host: '127.0.0.1', port: 6881 },
    { host: 'router.example.org', port: 1 },
    { host: '::1', port: 6882 },
  ]);
  assert.deepEqual(m.announceList, []);
  assert.deepEqual(parseMetainfo(encode({ info: singleInfo(), nodes: 'x' })).nodes, []);
  const many = Array.from({ length: 100 }, (_, i) => ['10.0.0.1', i + 1]);
  assert.equal(parseMetainfo(encode({ info: singleInfo(), nodes: many })).nodes.length, 64);
});
