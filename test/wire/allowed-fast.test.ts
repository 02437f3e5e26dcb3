import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { allowedFastSet } from '../../src/wire/index.js';

const AA = Buffer.alloc(20, 0xaa);

describe('allowedFastSet (BEP 6)', () => {
  it('matches the BEP test vector for k = 7', () => {
    assert.deepEqual(allowedFastSet('80.4.4.200', AA, 1313, 7), [1059, 431, 808, 1217, 287, 376, 1188]);
  });

  it('matches the BEP test vector for k = 9', () => {
    assert.deepEqual(
      allowedFastSet('80.4.4.200', AA, 1313, 9),
      [1059, 431, 808, 1217, 287, 376, 1188, 353, 508],
    );
  });

  it('depends only on the /24 of the address', () => {
    const expected = allowedFastSet('80.4.4.200', AA, 1313, 7);
    assert.deepEqual(allowedFastSet('80.4.4.1', AA, 1313, 7), expected);
    assert.deepEqual(allowedFastSet('::ffff:80.4.4.9', AA, 1313, 7), expected);
    assert.notDeepEqual(allowedFastSet('80.4.5.200', AA, 1313, 7), expected);
  });

  it('depends on the infohash', () => {
    assert.notDeepEqual(
      allowedFastSet('80.4.4.200', Buffer.alloc(20, 0xbb), 1313, 7),
      [1059, 431, 808, 1217, 287, 376, 1188],
    );
  });

  it('gives k distinct pieces in range, or every piece when the torrent has no more than k', () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 12 }),
        (ip, hash, pieces, k) => {
          const set = allowedFastSet(ip, Buffer.from(hash), pieces, k);
          assert.equal(set.length, Math.min(k, pieces));
          assert.equal(new Set(set).size, set.length);
          for (const i of set) assert.ok(Number.isInteger(i) && i >= 0 && i < pieces);
        },
      ),
      { numRuns: 200 },
    );
    assert.deepEqual(allowedFastSet('10.0.0.1', AA, 3, 10).sort(), [0, 1, 2]);
    assert.deepEqual(allowedFastSet('10.0.0.1', AA, 0, 10), []);
  });

  it('gives an IPv6 peer no set: BEP 6 defines it for IPv4 only', () => {
    assert.deepEqual(allowedFastSet('::1', AA, 1313, 7), []);
    assert.deepEqual(allowedFastSet('2001:db8::1', AA, 1313, 7), []);
  });

  it('refuses bad arguments', () => {
    const usage = (e: unknown) => isChunkswarmError(e, 'EUSAGE');
    assert.throws(() => allowedFastSet('localhost', AA, 10, 2), usage);
    assert.throws(() => allowedFastSet('300.1.1.1', AA, 10, 2), usage);
    assert.throws(() => allowedFastSet('1.2.3.4', Buffer.alloc(19), 10, 2), usage);
    assert.throws(() => allowedFastSet('1.2.3.4', AA, -1, 2), usage);
    assert.throws(() => allowedFastSet('1.2.3.4', AA, 10, 1.5), usage);
  });
});
