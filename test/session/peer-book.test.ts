import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BOOK_FORGET_AFTER,
  BOOK_LEFT_US_MS,
  BOOK_RETRY_CAP_MS,
  BOOK_RETRY_FIRST_MS,
  PeerBook,
} from '../../src/session/peer-book.js';

const addresses = (list: { ip: string; port: number }[]): string[] => list.map((p) => `${p.ip}:${p.port}`);

describe('PeerBook', () => {
  it('keeps every address it heard of, once, in the order heard', () => {
    const book = new PeerBook();
    book.heard('127.0.0.2', 6881);
    book.heard('127.0.0.3', 6882);
    book.heard('127.0.0.2', 6881);
    assert.equal(book.count, 2);
    assert.deepEqual(addresses(book.dialable(0, { seeding: false })), ['127.0.0.2:6881', '127.0.0.3:6882']);
  });

  it('ignores ports no peer can listen on', () => {
    const book = new PeerBook();
    for (const port of [0, -1, 65536, Number.NaN]) book.heard('127.0.0.2', port);
    assert.equal(book.count, 0);
  });

  it('leaves known seeds out while we seed, and takes the latest word on whether one is a seed', () => {
    const book = new PeerBook();
    book.heard('127.0.0.2', 6881, { seed: true });
    book.heard('127.0.0.3', 6881);
    assert.deepEqual(addresses(book.dialable(0, { seeding: true })), ['127.0.0.3:6881']);
    assert.equal(book.dialable(0, { seeding: false }).length, 2);
    book.heard('127.0.0.3', 6881, { seed: true });
    assert.deepEqual(book.dialable(0, { seeding: true }), []);
    // Named again without a word on what it holds: what we knew stands.
    book.heard('127.0.0.3', 6881);
    assert.deepEqual(book.about('127.0.0.3:6881', 0), { seed: true, leftUs: false });
  });

  it('while we seed, leaves out for a while a peer that closed a connection with us', () => {
    const book = new PeerBook();
    book.heard('127.0.0.2', 6881);
    book.heard('127.0.0.3', 6881);
    book.leftUs('127.0.0.2:6881', 1000);
    assert.deepEqual(addresses(book.dialable(2000, { seeding: true })), ['127.0.0.3:6881']);
    assert.equal(book.dialable(2000, { seeding: false }).length, 2, 'a leecher may still dial it');
    assert.equal(book.about('127.0.0.2:6881', 2000)?.leftUs, true);
    assert.equal(book.dialable(1000 + BOOK_LEFT_US_MS, { seeding: true }).length, 2);
    assert.equal(book.about('127.0.0.2:6881', 1000 + BOOK_LEFT_US_MS)?.leftUs, false);
  });

  it('waits longer after each failed dial, up to the cap, and not at all once a dial got through', () => {
    const book = new PeerBook();
    book.heard('127.0.0.2', 6881);
    const key = '127.0.0.2:6881';
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < BOOK_FORGET_AFTER - 1; i++) {
      book.failed(key, now);
      let wait = 0;
      while (book.dialable(now + wait, { seeding: false }).length === 0) wait += 1000;
      waits.push(wait);
      now += wait;
    }
    const expected = waits.map((_, i) => Math.min(BOOK_RETRY_CAP_MS, BOOK_RETRY_FIRST_MS * 2 ** i));
    assert.deepEqual(waits, expected);
    book.reached(key);
    book.failed(key, now);
    assert.equal(
      book.dialable(now + BOOK_RETRY_FIRST_MS, { seeding: false }).length,
      1,
      'back to the first wait',
    );
  });

  it(`forgets an address after ${BOOK_FORGET_AFTER} failed dials in a row, until someone names it again`, () => {
    const book = new PeerBook();
    book.heard('127.0.0.2', 6881);
    for (let i = 0; i < BOOK_FORGET_AFTER; i++) book.failed('127.0.0.2:6881', 0);
    assert.equal(book.count, 0);
    book.heard('127.0.0.2', 6881);
    assert.equal(book.dialable(0, { seeding: false }).length, 1);
  });

  it('holds at most its size, forgetting the address heard of longest ago', () => {
    const book = new PeerBook(3);
    for (let i = 1; i <= 5; i++) book.heard(`127.0.0.${i}`, 6881);
    assert.equal(book.count, 3);
    assert.deepEqual(addresses(book.dialable(0, { seeding: false })), [
      '127.0.0.3:6881',
      '127.0.0.4:6881',
      '127.0.0.5:6881',
    ]);
  });
});
