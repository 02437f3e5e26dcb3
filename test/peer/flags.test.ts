import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PEER_FLAG_LEGEND, type PeerFlagState, peerFlags } from '../../src/peer/flags.js';

const idle: PeerFlagState = {
  amChoking: true,
  peerChoking: true,
  amInterested: false,
  peerInterested: false,
  downloading: false,
  uploading: false,
};

describe('peer flags', () => {
  const cases: [string, Partial<PeerFlagState>, string][] = [
    ['a fresh connection', {}, ''],
    ['we want its pieces, it chokes us', { amInterested: true }, 'd'],
    ['it unchoked us and sends', { amInterested: true, peerChoking: false, downloading: true }, 'D'],
    ['it unchoked us, we want nothing', { peerChoking: false }, 'K'],
    ['it wants ours, we choke it', { peerInterested: true }, 'u'],
    ['we send to it', { peerInterested: true, amChoking: false, uploading: true }, 'U'],
    ['we unchoked it, it wants nothing', { amChoking: false }, '?'],
    [
      'both ways, optimistic, incoming',
      {
        amInterested: true,
        peerChoking: false,
        downloading: true,
        peerInterested: true,
        amChoking: false,
        uploading: true,
        optimistic: true,
        incoming: true,
      },
      'ODUI',
    ],
    ['found by peer exchange', { source: 'pex' }, 'X'],
    ['found in the DHT, dialled us', { source: 'dht', incoming: true }, 'HI'],
    ['a rate left over while choked is not D', { downloading: true, amInterested: true }, 'd'],
  ];
  for (const [what, state, flags] of cases) {
    it(`${what}: "${flags}"`, () => assert.equal(peerFlags({ ...idle, ...state }), flags));
  }

  it('has a legend entry for every letter it can write', () => {
    const letters = new Set(PEER_FLAG_LEGEND.map(([l]) => l));
    for (const [, , flags] of cases) for (const l of flags) assert.ok(letters.has(l), l);
  });
});
