import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ChunkswarmError, describeError, osReason } from '../../src/shared/errors.js';

/** The error Node gives for a connection to a port nothing listens on. */
function refused(): Promise<Error> {
  return new Promise((resolve) => {
    // Port 1 on loopback: nothing of ours listens there, and a closed port answers at once.
    const s = connect({ host: '127.0.0.1', port: 1 });
    s.on('error', resolve);
  });
}

describe('describeError', () => {
  it('says a network error in words, with its code and without the address the caller names', async () => {
    assert.equal(describeError(await refused()), 'connection refused (ECONNREFUSED)');
  });

  it("keeps our own errors' messages and names the code of other Node errors", () => {
    assert.equal(
      describeError(new ChunkswarmError('EUSAGE', 'no such file: a.torrent')),
      'no such file: a.torrent',
    );
    const fsError = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), {
      code: 'ENOENT',
      syscall: 'open',
    });
    assert.equal(describeError(fsError), "ENOENT: no such file or directory, open 'x' (ENOENT)");
    assert.equal(describeError('plain'), 'plain');
  });
});

describe('osReason', () => {
  it('says an OS error without the code and path Node repeats, for a sentence that names the path', () => {
    const fsError = Object.assign(new Error("ENOENT: no such file or directory, stat 'a.torrent'"), {
      code: 'ENOENT',
      syscall: 'stat',
    });
    assert.equal(osReason(fsError), 'no such file or directory (ENOENT)');
    assert.equal(osReason(new ChunkswarmError('ESTORAGE', 'disk full')), 'disk full');
  });
});
