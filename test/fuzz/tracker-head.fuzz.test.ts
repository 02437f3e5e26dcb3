import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type HeadDecision, RequestHeadReader } from '../../src/tracker/protocol/index.js';
import { split } from './split.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const MAX = 512;

/** Pushes `chunks` until a decision; also checks that no push throws. */
function feed(chunks: Uint8Array[]): HeadDecision {
  const r = new RequestHeadReader(MAX);
  for (const c of chunks) {
    const d = r.push(Buffer.from(c));
    if (d.kind !== 'more') return d;
  }
  return { kind: 'more' };
}

const token = fc.stringMatching(/^[A-Z]{1,8}$/);
const path = fc.constantFrom('/announce', '/scrape', '/', '/api/state', '/announce/x');
const query = fc.stringMatching(/^[A-Za-z0-9%=&_.~-]{0,120}$/);
const header = fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,20}$/), fc.stringMatching(/^[ -~]{0,60}$/));
const request = fc
  .record({
    method: token,
    path,
    query,
    minor: fc.constantFrom('0', '1'),
    headers: fc.array(header, { maxLength: 6 }),
    eol: fc.constantFrom('\r\n', '\n'),
  })
  .map(
    (r) =>
      `${r.method} ${r.path}${r.query ? `?${r.query}` : ''} HTTP/1.${r.minor}${r.eol}` +
      r.headers.map(([k, v]) => `${k}: ${v}${r.eol}`).join('') +
      r.eol,
  );

describe('RequestHeadReader fuzz', () => {
  it('decides the same however a request is split', () => {
    fc.assert(
      fc.property(request, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'latin1');
        const whole = feed([bytes]);
        assert.deepEqual(feed(split(bytes, cuts)), whole);
        assert.deepEqual(feed([...bytes].map((b) => Uint8Array.of(b))), whole);
      }),
      { numRuns: RUNS },
    );
  });

  it('reads generated requests as generated', () => {
    fc.assert(
      fc.property(request, (text) => {
        const d = feed([Buffer.from(text, 'latin1')]);
        const line = text.slice(0, text.search(/\r?\n/));
        const [method, target] = line.split(' ');
        const p = target!.split('?')[0];
        if (text.length > MAX && (p === '/announce' || p === '/scrape')) {
          assert.equal(d.kind, 'refuse');
        } else if (p === '/announce' || p === '/scrape') {
          assert.equal(d.kind, 'tracker');
          if (d.kind === 'tracker') {
            assert.equal(d.method, method);
            assert.equal(d.path, p);
            assert.equal(d.query, target!.includes('?') ? target!.slice(target!.indexOf('?') + 1) : '');
            assert.equal(d.headBytes, text.length);
          }
        } else if (line.length < MAX) {
          assert.deepEqual(d, { kind: 'other' });
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on mutated or random input, and refuses with a reason', () => {
    const mutated = fc
      .tuple(
        request,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      )
      .map(([text, edits]) => {
        const bytes = Buffer.from(text, 'latin1');
        for (const [at, b] of edits) bytes[at % bytes.length] = b;
        return bytes;
      });
    const input = fc.oneof(mutated, fc.uint8Array({ maxLength: 2 * MAX }));
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const d = feed(split(bytes, cuts));
        assert.ok(['more', 'refuse', 'tracker', 'other'].includes(d.kind));
        if (d.kind === 'refuse') assert.ok(d.reason.length > 0);
        if (d.kind === 'tracker') assert.ok(d.headBytes <= MAX);
        if (d.kind === 'more') assert.ok(bytes.length <= MAX, 'more than the cap and still undecided');
      }),
      { numRuns: RUNS },
    );
  });
});
