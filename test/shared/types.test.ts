import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { byCodeUnits, compareAddresses, formatAddress } from '../../src/shared/types.js';

describe('address order', () => {
  it('sorts by host, then by port as a number, IPv6 in brackets too', () => {
    const addresses = [
      formatAddress('127.0.0.1', 47210),
      formatAddress('::1', 6881),
      formatAddress('127.0.0.1', 4722),
      formatAddress('10.0.0.2', 1),
      formatAddress('::1', 80),
    ];
    assert.deepEqual(addresses.sort(compareAddresses), [
      '10.0.0.2:1',
      '127.0.0.1:4722',
      '127.0.0.1:47210',
      '[::1]:80',
      '[::1]:6881',
    ]);
  });

  it('orders text by code units, the same on every machine and locale', () => {
    assert.deepEqual(['b', 'B', 'a', 'ab'].sort(byCodeUnits), ['B', 'a', 'ab', 'b']);
    assert.equal(byCodeUnits('x', 'x'), 0);
  });
});
