import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import {
  decodeRatesParam,
  encodeRatesParam,
  MAX_RATES_PARAM,
  type PeerRate,
  parseAnnounceQuery,
} from '../../src/tracker/protocol/index.js';
import { announceQuery } from './helpers.js';

const requestError = (e: unknown) => isChunkswarmError(e, 'ETRACKER_REQUEST');

describe('cs_rates', () => {
  it('round-trips IPv4 and IPv6 peers, busiest first, idle and unusable ones dropped', () => {
    const text = encodeRatesParam([
      { ip: '127.0.0.1', port: 6001, down: 100, up: 0 },
      { ip: '::1', port: 6002, down: 50_000, up: 7 },
      { ip: '::ffff:10.0.0.2', port: 6003, down: 0, up: 300 },
      { ip: '127.0.0.1', port: 6004, down: 0, up: 0 }, // idle
      { ip: 'example.org', port: 6005, down: 9, up: 9 }, // not an address
      { ip: '127.0.0.1', port: 0, down: 9, up: 9 }, // no port
    ]);
    assert.ok(text);
    assert.match(text, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeRatesParam(text), [
      { ip: '::1', port: 6002, down: 50_000, up: 7 },
      { ip: '10.0.0.2', port: 6003, down: 0, up: 300 },
      { ip: '127.0.0.1', port: 6001, down: 100, up: 0 },
    ]);
    assert.equal(encodeRatesParam([{ ip: '127.0.0.1', port: 1, down: 0, up: 0 }]), undefined);
  });

  it('keeps the busiest LIMITS.trackerMaxRates peers and caps a rate at 2^32 - 1', () => {
    const many: PeerRate[] = Array.from({ length: 40 }, (_, i) => ({
      ip: '127.0.0.1',
      port: 7000 + i,
      down: i,
      up: 1,
    }));
    many.push({ ip: '127.0.0.2', port: 1, down: 1e12, up: Number.NaN });
    const got = decodeRatesParam(encodeRatesParam(many)!);
    assert.equal(got.length, LIMITS.trackerMaxRates);
    assert.deepEqual(got[0], { ip: '127.0.0.2', port: 1, down: 0xffff_ffff, up: 0 });
    assert.equal(got[1]!.port, 7039);
    assert.equal(decodeRatesParam(encodeRatesParam(many, 2)!).length, 2);
  });

  it('refuses malformed values with a one-line reason', () => {
    const entry = (family: number, addrLen: number, port = 1) => {
      const b = Buffer.alloc(1 + addrLen + 10);
      b[0] = family;
      b.writeUInt16BE(port, 1 + addrLen);
      return b;
    };
    const bad = (text: string, why: RegExp) =>
      assert.throws(
        () => decodeRatesParam(text),
        (e: unknown) => requestError(e) && why.test((e as Error).message),
      );
    bad('a+b', /not base64url/);
    bad('A', /not base64url/);
    bad(entry(5, 4).toString('base64url'), /family 5/);
    bad(entry(4, 4).subarray(0, 10).toString('base64url'), /cut short/);
    bad(entry(6, 16, 0).toString('base64url'), /port 0/);
    bad('A'.repeat(MAX_RATES_PARAM + 4), /longer than/);
    const seventeen = Buffer.concat(
      Array.from({ length: LIMITS.trackerMaxRates + 1 }, () => entry(4, 4)),
    ).toString('base64url');
    bad(seventeen, /more than/);
    assert.deepEqual(decodeRatesParam(''), []);
  });

  it('reads back whatever it encodes (property)', () => {
    const rate = fc.record({
      ip: fc.oneof(fc.ipV4(), fc.ipV6()),
      port: fc.integer({ min: 1, max: 65535 }),
      down: fc.nat(),
      up: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(rate, { maxLength: 30 }), (rates) => {
        const text = encodeRatesParam(rates);
        if (text === undefined) {
          assert.ok(rates.every((r) => r.down + r.up === 0));
          return;
        }
        assert.ok(text.length <= MAX_RATES_PARAM);
        const back = decodeRatesParam(text);
        assert.ok(back.length <= LIMITS.trackerMaxRates);
        for (let i = 1; i < back.length; i++)
          assert.ok(back[i - 1]!.down + back[i - 1]!.up >= back[i]!.down + back[i]!.up);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
    // and never throws anything but its own error on junk
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (junk) => {
        try {
          decodeRatesParam(junk);
        } catch (e) {
          assert.ok(requestError(e), String(e));
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
  });

  it('arrives in a parsed announce, and a bad one fails the announce', () => {
    const text = encodeRatesParam([{ ip: '127.0.0.1', port: 6002, down: 1234, up: 5 }])!;
    const a = parseAnnounceQuery(announceQuery(1, 1, `&cs_rates=${text}`), '127.0.0.1');
    assert.deepEqual(a.rates, [{ ip: '127.0.0.1', port: 6002, down: 1234, up: 5 }]);
    assert.equal(parseAnnounceQuery(announceQuery(1, 1), '127.0.0.1').rates, undefined);
    assert.throws(() => parseAnnounceQuery(announceQuery(1, 1, '&cs_rates=%00'), '127.0.0.1'), requestError);
  });
});
