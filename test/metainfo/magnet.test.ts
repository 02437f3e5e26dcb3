import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { magnetUri, metainfoFromInfoBytes, parseMagnet, parseMetainfo } from '../../src/metainfo/index.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { singleInfo, torrentBytes } from './helpers.js';

const HEX = '0123456789abcdef0123456789abcdef01234567';
// The same 20 bytes in RFC 4648 base32.
const BASE32 = 'AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH';

function refused(uri: string, message?: RegExp): void {
  assert.throws(
    () => parseMagnet(uri),
    (e: unknown) => {
      assert.ok(e instanceof ChunkswarmError);
      assert.equal(e.code, 'EMAGNET');
      assert.ok(!e.message.includes('\n'));
      if (message) assert.match(e.message, message);
      return true;
    },
  );
}

describe('magnetUri', () => {
  test('hex infohash, encoded name, each tracker once in tier order', () => {
    const m = parseMetainfo(
      torrentBytes(singleInfo({ name: 'my file & co.bin' }), {
        announce: 'http://a/announce?x=1',
        'announce-list': [
          ['http://a/announce?x=1', 'udp://b:80'],
          ['udp://b:80', 'http://c/'],
        ],
      }),
    );
    assert.equal(
      magnetUri(m),
      `magnet:?xt=urn:btih:${m.infoHashHex}&dn=my%20file%20%26%20co.bin` +
        '&tr=http%3A%2F%2Fa%2Fannounce%3Fx%3D1&tr=udp%3A%2F%2Fb%3A80&tr=http%3A%2F%2Fc%2F',
    );
  });

  test('round trip through parseMagnet keeps hash, name and trackers', () => {
    fc.assert(
      fc.property(
        fc
          .string({ minLength: 1, maxLength: 30, unit: 'grapheme' })
          .filter((s) => !/[/\\\0]|^\.\.?$|^[A-Za-z]:/.test(s)),
        fc.uniqueArray(fc.webUrl(), { maxLength: 4 }),
        (name, trackers) => {
          const m = parseMetainfo(
            torrentBytes(singleInfo({ name }), {
              announce: trackers[0],
              'announce-list': trackers.map((t) => [t]),
            }),
          );
          const back = parseMagnet(magnetUri(m));
          assert.deepEqual(back.infoHash, m.infoHash);
          assert.equal(back.infoHashHex, m.infoHashHex);
          assert.equal(back.name, name);
          assert.deepEqual(back.trackers, trackers);
          assert.deepEqual(back.peers, []);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('parseMagnet', () => {
  test('hex in either case and base32 give the same hash', () => {
    const lower = parseMagnet(`magnet:?xt=urn:btih:${HEX}`);
    assert.equal(lower.infoHashHex, HEX);
    assert.deepEqual(lower.infoHash, Buffer.from(HEX, 'hex'));
    assert.equal(parseMagnet(`magnet:?xt=urn:btih:${HEX.toUpperCase()}`).infoHashHex, HEX);
    assert.equal(parseMagnet(`magnet:?xt=urn:btih:${BASE32}`).infoHashHex, HEX);
    assert.equal(parseMagnet(`magnet:?xt=urn:btih:${BASE32.toLowerCase()}`).infoHashHex, HEX);
    assert.equal(parseMagnet(`MAGNET:?XT=URN:BTIH:${HEX}`).infoHashHex, HEX);
  });

  test('name, trackers (tr and tr.N, each once), peers, other parameters ignored', () => {
    const link = parseMagnet(
      `  magnet:?xt=urn:btmh:1220${'0'.repeat(64)}&xt=urn:btih:${HEX}&dn=Ubuntu+22.04%20desktop` +
        '&tr=http%3A%2F%2Fa%2Fannounce&tr.1=udp://b:80&tr=http%3A%2F%2Fa%2Fannounce&xl=123&ws=http://w/' +
        '&x.pe=127.0.0.1:6881&x.pe=%5B%3A%3A1%5D%3A6882&x.pe=nonsense&x.pe=1.2.3.4:70000&&junk  ',
    );
    assert.equal(link.infoHashHex, HEX);
    assert.equal(link.name, 'Ubuntu 22.04 desktop');
    assert.deepEqual(link.trackers, ['http://a/announce', 'udp://b:80']);
    assert.deepEqual(link.peers, ['127.0.0.1:6881', '[::1]:6882']);
    assert.deepEqual(link.webSeeds, ['http://w/']);
  });

  test('web seeds (ws, as WebTorrent writes them) go into the metadata fetched and back into a magnet', () => {
    const link = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&ws=https%3A%2F%2Fw.example%2Fpub%2F&ws.1=ftp://no/&ws=https://w.example/pub/`,
    );
    assert.deepEqual(link.webSeeds, ['https://w.example/pub/']);
    const info = torrentBytes(singleInfo());
    const m = parseMetainfo(info);
    const fetched = metainfoFromInfoBytes(m.infoBytes, { webSeeds: link.webSeeds });
    assert.deepEqual(fetched.webSeeds, ['https://w.example/pub/']);
    assert.match(magnetUri(fetched), /&ws=https%3A%2F%2Fw\.example%2Fpub%2F$/);
  });

  test('no name is fine', () => {
    assert.equal(parseMagnet(`magnet:?xt=urn:btih:${HEX}`).name, undefined);
  });

  test('bad links are refused with EMAGNET', () => {
    refused('', /must start with 'magnet:\?'/);
    refused('http://example.com/?xt=urn:btih:' + HEX);
    refused('magnet:?dn=x', /no BitTorrent infohash/);
    refused(`magnet:?xt=urn:btmh:1220${'0'.repeat(64)}`, /only a BitTorrent v2 infohash .*not supported/);
    refused(`magnet:?xt=urn:btih:${HEX.slice(1)}`, /neither 40 hex nor 32 base32/);
    refused(`magnet:?xt=urn:btih:${HEX}0`);
    refused(`magnet:?xt=urn:btih:${BASE32.slice(0, 31)}1`); // '1' is not base32
    refused(`magnet:?xt=urn:btih:${'g'.repeat(40)}`);
    refused(`magnet:?xt=urn:btih:${HEX}&dn=%E0%A4%A`, /percent-encoding/);
    refused(`magnet:?xt=urn:btih:${HEX}&tr=${'a'.repeat(70000)}`, /longer than/);
    refused(42 as unknown as string);
  });

  test('random strings either parse or fail with EMAGNET', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), fc.boolean(), (s, prefix) => {
        try {
          parseMagnet(prefix ? `magnet:?xt=urn:btih:${HEX}&${s}` : s);
        } catch (e) {
          assert.ok(e instanceof ChunkswarmError && e.code === 'EMAGNET', String(e));
        }
      }),
      { numRuns: 500 },
    );
  });
});
