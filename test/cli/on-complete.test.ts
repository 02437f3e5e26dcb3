import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onCompleteEnv, runOnComplete } from '../../src/cli/on-complete.js';

const torrent = {
  name: 'my "album"; rm -rf ~ $(touch pwned)',
  infoHashHex: '0123456789abcdef0123456789abcdef01234567',
  path: '/data/out/my album',
};

describe('--on-complete', { skip: existsSync('/bin/sh') ? false : 'needs /bin/sh' }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chunkswarm-oncomplete-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs the command through the shell with the torrent in its environment', async () => {
    const out = join(dir, 'done.txt');
    const lines: string[] = [];
    const cmd = `printf '%s\\n%s\\n%s\\n%s\\n' "$CHUNKSWARM_NAME" "$CHUNKSWARM_INFOHASH" "$CHUNKSWARM_PATH" "$TORRENT_HASH" > '${out}'`;
    const code = await runOnComplete(cmd, torrent, (l) => lines.push(l));
    assert.equal(code, 0);
    assert.deepEqual(lines, []);
    assert.equal(
      await readFile(out, 'utf8'),
      `${torrent.name}\n${torrent.infoHashHex}\n${torrent.path}\n${torrent.infoHashHex}\n`,
    );
    // the name's shell syntax stayed data
    assert.equal(existsSync(join(process.cwd(), 'pwned')), false);
  });

  it('logs one line with the exit code and the last stderr line when the command fails', async () => {
    const lines: string[] = [];
    const code = await runOnComplete('echo first >&2; echo "disk is full" >&2; exit 3', torrent, (l) =>
      lines.push(l),
    );
    assert.equal(code, 3);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^on-complete for .*: the command exited with code 3: disk is full$/);
  });

  it('never holds up the caller: the command runs on while the caller goes on', {
    timeout: 20_000,
  }, async () => {
    // The command waits for a file the caller writes only after runOnComplete returned: a
    // runOnComplete that waited for its command would never get here, and the test would time out.
    const go = join(dir, 'go');
    const marker = join(dir, 'slow.txt');
    const run = runOnComplete(
      `while [ ! -e '${go}' ]; do sleep 0.05; done; echo done > '${marker}'`,
      torrent,
      () => {},
    );
    await writeFile(go, '');
    assert.equal(await run, 0);
    assert.equal(await readFile(marker, 'utf8'), 'done\n');
  });

  it('logs a command that cannot start', async () => {
    const lines: string[] = [];
    const code = await runOnComplete('true', torrent, (l) => lines.push(l), {
      shell: join(dir, 'no-such-shell'),
    });
    assert.equal(code, null);
    assert.match(lines[0]!, /cannot start the command/);
  });

  it('builds the environment on top of the given one', () => {
    const env = onCompleteEnv(torrent, { PATH: '/bin' });
    assert.equal(env.PATH, '/bin');
    assert.equal(env.TORRENT_NAME, torrent.name);
    assert.equal(env.TORRENT_PATH, torrent.path);
    assert.equal(env.CHUNKSWARM_INFOHASH, torrent.infoHashHex);
  });
});
