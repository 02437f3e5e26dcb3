import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encode } from '../../src/codec/index.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import {
  type AnnounceEvent,
  buildAnnounceUrl,
  encodeAnnounceResponse,
  formatIp,
  parseAnnounceQuery,
  parseAnnounceResponse,
  parseScrapeQuery,
  parseScrapeResponse,
} from '../../src/tracker/protocol/index.js';
import { decodeComponent, forEachParam } from '../../src/tracker/protocol/query.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

/** Runs `fn`; anything thrown must be a ChunkswarmError with one of `codes`. */
function onlyThrows(codes: readonly string[], fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!isChunkswarmError(err) || !codes.includes(err.code)) {
      assert.fail(`unexpected error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
  }
}

const bytes20 = fc.uint8Array({ minLength: 20, maxLength: 20 });
const events = fc.constantFrom<AnnounceEvent | undefined>(
  undefined,
  'started',
  'completed',
  'stopped',
  'paused',
);
const params = fc.record({
  infoHash: bytes20,
  peerId: bytes20,
  port: fc.integer({ min: 1, max: 65535 }),
  uploaded: fc.maxSafeNat(),
  downloaded: fc.maxSafeNat(),
  left: fc.maxSafeNat(),
  event: events,
  numwant: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
  compact: fc.boolean(),
  key: fc.option(fc.stringMatching(/^[A-Za-z0-9]{1,16}$/), { nil: undefined }),
  name: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  pieces: fc.integer({ min: 1, max: 200 }),
  bits: fc.uint8Array({ maxLength: 25 }),
});
type Params = typeof params extends fc.Arbitrary<infer T> ? T : never;

function queryOf(p: Params): string {
  const bitfield = Buffer.alloc(Math.ceil(p.pieces / 8));
  Buffer.from(p.bits).copy(bitfield);
  const spare = bitfield.length * 8 - p.pieces;
  bitfield[bitfield.length - 1]! &= 0xff << spare;
  const url = buildAnnounceUrl('http://t/announce', {
    ...p,
    chunks: { pieces: p.pieces, bitfield, name: p.name, wantStatus: true },
  });
  return url.slice(url.indexOf('?') + 1);
}

/** Edits a string the way a broken client or an attacker might: cut, insert, overwrite, repeat. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), len: fc.nat(20) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.string({ unit: 'binary', maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.constantFrom('%', '%0', '%zz', '&', '=', '+', '&&', '==', '%FF', '-1', '99999999999999999999'),
  }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), len: fc.nat(40) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(s: string, ms: readonly Mutation[]): string {
  let out = s;
  for (const m of ms) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    if (m.kind === 'cut') out = out.slice(0, at) + out.slice(at + m.len);
    else if (m.kind === 'insert') out = out.slice(0, at) + m.text + out.slice(at);
    else out = out.slice(0, at) + out.slice(at, at + m.len) + out.slice(at);
  }
  return out;
}

const queryAlphabet = fc.constantFrom(
  ...'abcdefghijklmnopqrstuvwxyz_0123456789%&=+-.~ABCDEF'.split(''),
  'info_hash=',
  'peer_id=',
  'port=',
  'cs_bitfield=',
  'cs_pieces=',
  'left=',
);

describe('tracker fuzz', () => {
  it('parseAnnounceQuery throws nothing but ETRACKER_REQUEST on random queries', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.array(queryAlphabet, { maxLength: 80 }).map((a) => a.join('')),
        ),
        fc.boolean(),
        (q, trust) =>
          onlyThrows(['ETRACKER_REQUEST'], () => parseAnnounceQuery(q, '127.0.0.1', { trustIpParam: trust })),
      ),
      { numRuns: RUNS },
    );
  });

  it('parseAnnounceQuery throws nothing but ETRACKER_REQUEST on mutated valid queries', () => {
    fc.assert(
      fc.property(params, fc.array(mutation, { minLength: 1, maxLength: 4 }), (p, ms) => {
        onlyThrows(['ETRACKER_REQUEST'], () => parseAnnounceQuery(mutate(queryOf(p), ms), '::1'));
      }),
      { numRuns: RUNS },
    );
  });

  it('buildAnnounceUrl and parseAnnounceQuery agree on every field', () => {
    fc.assert(
      fc.property(params, (p) => {
        const r = parseAnnounceQuery(queryOf(p), '10.0.0.1');
        assert.deepEqual(r.infoHash, Buffer.from(p.infoHash));
        assert.deepEqual(r.peerId, Buffer.from(p.peerId));
        assert.equal(r.port, p.port);
        assert.equal(r.uploaded, p.uploaded);
        assert.equal(r.downloaded, p.downloaded);
        assert.equal(r.left, p.left);
        assert.equal(r.event, p.event);
        assert.equal(r.numwant, Math.min(p.numwant ?? 50, 200));
        assert.equal(r.compact, p.compact);
        assert.equal(r.key, p.key);
        assert.equal(r.pieces, p.pieces);
        assert.equal(r.wantStatus, true);
        if (
          p.name !== undefined &&
          Buffer.byteLength(p.name) <= 255 &&
          !/[\u0000-\u001f\u007f]/.test(p.name)
        ) {
          // Lone surrogates do not survive UTF-8; everything else does.
          assert.equal(r.name, Buffer.from(p.name, 'utf8').toString('utf8'));
        }
      }),
      { numRuns: RUNS },
    );
  });

  // parseAnnounceQuery matches known keys in place and decodes the 20-byte fields on a fast path
  // (announce-request.ts); this checks both against the plain reading of the query: forEachParam,
  // the first copy of each key, decodeComponent.
  it('any escaping of info_hash, peer_id and the keys reads as the plain decoding does', () => {
    const escaping = fc.constantFrom('literal', 'upper', 'lower');
    const spell = (bytes: Uint8Array, how: readonly string[]) =>
      [...bytes]
        .map((b, i) => {
          const safe = b > 0x20 && b < 0x7f && !'%&=#?'.includes(String.fromCharCode(b));
          const h = how[i % how.length];
          if (h === 'literal' && safe) return String.fromCharCode(b);
          const hex = b.toString(16).padStart(2, '0');
          return `%${h === 'lower' ? hex : hex.toUpperCase()}`;
        })
        .join('');
    const key = (name: string, escapeAt: number) =>
      escapeAt < 0 || escapeAt >= name.length
        ? name
        : `${name.slice(0, escapeAt)}%${name.charCodeAt(escapeAt).toString(16)}${name.slice(escapeAt + 1)}`;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 18, maxLength: 22 }),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.array(escaping, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -1, max: 9 }),
        fc.boolean(),
        (ih, pid, how, escapeAt, twice) => {
          const parts = [
            `${key('info_hash', escapeAt)}=${spell(ih, how)}`,
            `peer_id=${spell(pid, how)}`,
            'port=6881',
            ...(twice ? [`info_hash=${'%00'.repeat(20)}`] : []),
          ];
          const query = parts.join('&');
          let ok: ReturnType<typeof parseAnnounceQuery> | undefined;
          let refused: string | undefined;
          try {
            ok = parseAnnounceQuery(query, '10.0.0.1');
          } catch (err) {
            if (!isChunkswarmError(err, 'ETRACKER_REQUEST')) throw err;
            refused = err.message;
          }
          const first = new Map<string, Buffer | undefined>();
          forEachParam(query, (k, start, end) => {
            if (!first.has(k)) first.set(k, decodeComponent(query, start, end, false));
          });
          const want = first.get('info_hash');
          if (want?.length === 20) {
            assert.equal(refused, undefined);
            assert.deepEqual(ok?.infoHash, want);
            assert.deepEqual(ok?.peerId, Buffer.from(pid));
          } else {
            assert.equal(refused, 'info_hash must be 20 bytes');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseScrapeQuery throws nothing but ETRACKER_REQUEST', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.array(mutation, { maxLength: 3 }),
        (q, ms) => {
          onlyThrows(['ETRACKER_REQUEST'], () => parseScrapeQuery(mutate(`info_hash=${q}`, ms)));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the compact answer matches the general encoder and parses back', () => {
    const peer = fc
      .record({
        v6: fc.boolean(),
        a: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        port: fc.integer({ min: 1, max: 65535 }),
      })
      .map(({ v6, a, port }) => {
        const addr = Buffer.from(v6 ? a : a.subarray(0, 4));
        const compact = Buffer.concat([addr, Buffer.from([port >> 8, port & 0xff])]);
        return {
          ip: formatIp(addr),
          port,
          compact,
          peerId: Buffer.alloc(20),
          uploaded: 0,
          downloaded: 0,
          left: 1,
          lastSeen: 0,
        };
      });
    const text = fc.option(fc.string({ maxLength: 20 }), { nil: undefined });
    fc.assert(
      fc.property(
        fc.array(peer, { maxLength: 30 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 100_000 }),
        fc.option(fc.nat(), { nil: undefined }),
        text,
        text,
        (peers, complete, incomplete, interval, minInterval, trackerId, warning) => {
          const r = { complete, incomplete, interval, minInterval, trackerId, warning, peers };
          const body = encodeAnnounceResponse({ ...r, compact: true, includeStatus: false, noPeerId: false });
          const v4 = peers.filter((p) => p.compact.length === 6).map((p) => p.compact);
          const v6 = peers.filter((p) => p.compact.length === 18).map((p) => p.compact);
          const expected = encode({
            complete,
            incomplete,
            interval,
            'min interval': minInterval,
            peers: Buffer.concat(v4),
            peers6: v6.length > 0 ? Buffer.concat(v6) : undefined,
            'tracker id': trackerId,
            'warning message': warning,
          });
          assert.deepEqual(body, expected);
          const parsed = parseAnnounceResponse(body);
          // IPv4-mapped IPv6 entries read back as IPv4, which is the same peer.
          assert.deepEqual(
            parsed.peers.map((p) => p.port),
            [
              ...peers.filter((p) => p.compact.length === 6),
              ...peers.filter((p) => p.compact.length === 18),
            ].map((p) => p.port),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('response parsers throw nothing but ETRACKER_RESPONSE / ETRACKER_FAILURE on mutated answers', () => {
    const peer = fc.record({
      ip: fc.oneof(fc.ipV4(), fc.constantFrom('::1', '2001:db8::5')),
      port: fc.integer({ min: 1, max: 65535 }),
      peerId: bytes20.map((b) => Buffer.from(b)),
      uploaded: fc.nat(),
      downloaded: fc.nat(),
      left: fc.option(fc.nat(), { nil: undefined }),
      have: fc.option(fc.nat(8), { nil: undefined }),
      pieces: fc.constant(8),
      lastSeen: fc.nat(),
    });
    fc.assert(
      fc.property(
        fc.array(peer, { maxLength: 5 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (peers, compact, includeStatus, ms) => {
          const body = encodeAnnounceResponse({
            interval: 60,
            complete: 1,
            incomplete: 2,
            peers,
            compact,
            includeStatus,
            noPeerId: false,
          });
          const mutated = Buffer.from(mutate(body.toString('latin1'), ms), 'latin1');
          onlyThrows(['ETRACKER_RESPONSE', 'ETRACKER_FAILURE'], () => parseAnnounceResponse(mutated));
          onlyThrows(['ETRACKER_RESPONSE', 'ETRACKER_FAILURE'], () => parseScrapeResponse(mutated));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
