/**
 * `chunkswarm download <magnet>` end to end on loopback, with the built CLI: through a tracker, through
 * `x.pe` alone, mixed with a .torrent in one command, and from a downloader that keeps seeding. Also
 * `info` on a magnet link and the one-line refusals.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, Harness, makeFile, sameBytes } from '../integration/harness.js';
import { ScriptedSeeder } from './helpers.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

const KiB = 1024;
const MiB = 1024 * KiB;

/** `chunkswarm create`: the infohash and the magnet link it prints. */
async function create(
  path: string,
  torrent: string,
  tracker: string,
): Promise<{ hash: string; magnet: string }> {
  const p = h.cs(['create', path, '--tracker', tracker, '-o', torrent, '--piece-length', String(64 * KiB)]);
  assert.equal(await p.exited(), 0, p.output());
  const [hash, magnet] = p.output().split('\n');
  return { hash: hash!, magnet: magnet! };
}

async function seed(torrent: string, data: string): Promise<number> {
  const p = h.cs(['seed', torrent, '--data', data, '--port', '0']);
  const m = await p.waitFor(/^seeding \S+ on 127\.0\.0\.1:(\d+)/m);
  return Number(m[1]);
}

describe('chunkswarm download <magnet>', { timeout: 90_000 }, () => {
  it('fetches the metadata through the magnet’s tracker, then the data, byte for byte', async () => {
    const src = join(h.dir, 'a', 'lecture.bin');
    await makeFile(src, 3 * MiB + 123, 'magnet a');
    const { announce } = await h.tracker();
    const { magnet } = await create(src, join(h.dir, 'a.torrent'), announce);
    assert.match(magnet, /&tr=/);
    await seed(join(h.dir, 'a.torrent'), src);
    const out = join(h.dir, 'out-a');
    const dl = h.cs(['download', magnet, '--out', out, '--port', String(await freePort())]);
    const code = await dl.exited(60_000);
    assert.equal(code, 0, dl.output());
    assert.match(dl.output(), /^fetching the metadata of lecture\.bin from peers/m);
    assert.match(dl.output(), /^metadata of lecture\.bin: /m);
    assert.match(dl.output(), /^complete lecture\.bin /m);
    assert.ok(await sameBytes(src, join(out, 'lecture.bin')));
  });

  it('fetches from a peer named by x.pe alone, with no tracker in the link', async () => {
    const src = join(h.dir, 'b', 'notes.bin');
    await makeFile(src, 1 * MiB + 7, 'magnet b');
    const { announce } = await h.tracker();
    const { hash } = await create(src, join(h.dir, 'b.torrent'), announce);
    const port = await seed(join(h.dir, 'b.torrent'), src);
    const magnet = `magnet:?xt=urn:btih:${hash}&dn=notes.bin&x.pe=127.0.0.1:${port}`;
    const out = join(h.dir, 'out-b');
    const dl = h.cs(['download', magnet, '--out', out, '--port', String(await freePort())]);
    assert.equal(await dl.exited(60_000), 0, dl.output());
    assert.match(dl.output(), /^complete notes\.bin /m);
    assert.doesNotMatch(dl.output(), /^tracker:/m);
    assert.ok(await sameBytes(src, join(out, 'notes.bin')));
  });

  it('takes .torrent files and magnets in one command, and a downloader with --seed serves metadata on', async () => {
    const { announce } = await h.tracker();
    const fileSrc = join(h.dir, 'c', 'one.bin');
    await makeFile(fileSrc, 700 * KiB, 'magnet c1');
    const dirSrc = join(h.dir, 'c', 'pack');
    await makeFile(join(dirSrc, 'x.bin'), 500 * KiB, 'magnet c2');
    await makeFile(join(dirSrc, 'sub', 'y.bin'), 300 * KiB + 3, 'magnet c3');
    await create(fileSrc, join(h.dir, 'one.torrent'), announce);
    const pack = await create(dirSrc, join(h.dir, 'pack.torrent'), announce);
    await seed(join(h.dir, 'one.torrent'), fileSrc);
    await seed(join(h.dir, 'pack.torrent'), dirSrc);

    const out = join(h.dir, 'out-c');
    const port = await freePort();
    const dl = h.cs([
      'download',
      join(h.dir, 'one.torrent'),
      pack.magnet,
      '--out',
      out,
      '--port',
      String(port),
      '--seed',
    ]);
    await dl.waitFor(/^seeding one\.bin, pack on /m, 60_000);
    assert.match(dl.output(), /^complete one\.bin /m);
    assert.match(dl.output(), /^complete pack /m);
    assert.ok(await sameBytes(fileSrc, join(out, 'one.bin')));
    assert.ok(await sameBytes(join(dirSrc, 'x.bin'), join(out, 'pack', 'x.bin')));
    assert.ok(await sameBytes(join(dirSrc, 'sub', 'y.bin'), join(out, 'pack', 'sub', 'y.bin')));

    // The downloader got the pack from a magnet; now it is the only peer another one is told of.
    const out2 = join(h.dir, 'out-c2');
    const magnet2 = `magnet:?xt=urn:btih:${pack.hash}&x.pe=127.0.0.1:${port}`;
    const dl2 = h.cs(['download', magnet2, '--out', out2, '--port', String(await freePort())]);
    assert.equal(await dl2.exited(60_000), 0, dl2.output());
    assert.ok(await sameBytes(join(dirSrc, 'sub', 'y.bin'), join(out2, 'pack', 'sub', 'y.bin')));
  });
});

describe('a magnet whose metadata cannot be used', () => {
  it('stops the download with one line: an unsafe name in the metadata is the torrent’s fault (exit 2)', async () => {
    // Hashes right, so it is exactly what the link names, but its file name would leave --out.
    const bad = Buffer.from(
      'd6:lengthi16384e4:name2:..12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae',
    );
    const infoHash = createHash('sha1').update(bad).digest();
    const peer = await new ScriptedSeeder(bad, infoHash, 'honest').listen();
    try {
      const magnet = `magnet:?xt=urn:btih:${infoHash.toString('hex')}&dn=evil&x.pe=${peer.address}`;
      const dl = h.cs([
        'download',
        magnet,
        '--out',
        join(h.dir, 'out-evil'),
        '--port',
        String(await freePort()),
      ]);
      assert.equal(await dl.exited(30_000), 2, dl.output());
      const errors = dl
        .output()
        .split('\n')
        .filter((l) => l.startsWith('chunkswarm: '));
      assert.equal(errors.length, 1, dl.output());
      assert.match(errors[0]!, /^chunkswarm: the torrent of magnet evil is not usable: .*unsafe path/);
    } finally {
      await peer.close();
    }
  });
});

describe('magnet links elsewhere on the command line', () => {
  const hash = '0123456789abcdef0123456789abcdef01234567';
  const magnet = `magnet:?xt=urn:btih:${hash}&dn=The%20Film&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&x.pe=127.0.0.1:7000`;

  it('info prints what the link says, without asking anyone', async () => {
    const p = h.cs(['info', magnet]);
    assert.equal(await p.exited(), 0, p.output());
    assert.match(p.output(), /^name: +The Film$/m);
    assert.match(p.output(), new RegExp(`^infohash: +${hash}$`, 'm'));
    assert.match(p.output(), /^trackers: +http:\/\/127\.0\.0\.1:6969\/announce$/m);
    assert.match(p.output(), /^peers: +127\.0\.0\.1:7000$/m);
    const j = h.cs(['info', magnet, '--json']);
    assert.equal(await j.exited(), 0, j.output());
    assert.deepEqual(JSON.parse(j.output()), {
      magnet: true,
      name: 'The Film',
      infoHash: hash,
      trackers: ['http://127.0.0.1:6969/announce'],
      peers: ['127.0.0.1:7000'],
    });
  });

  const refusals: [string, string[], RegExp][] = [
    [
      'a magnet with nowhere to find peers',
      ['download', `magnet:?xt=urn:btih:${hash}&dn=film`, '--out', 'x'],
      /^chunkswarm: magnet film names no tracker \(tr=\) and no peer \(x\.pe=\)/,
    ],
    [
      'a malformed magnet',
      ['download', 'magnet:?dn=film', '--out', 'x'],
      /^chunkswarm: magnet link has no BitTorrent infohash/,
    ],
    [
      'a malformed magnet to info',
      ['info', 'magnet:?xt=urn:btih:nothex'],
      /^chunkswarm: magnet link infohash/,
    ],
    [
      'seeding a magnet',
      ['seed', magnet, '--data', 'x'],
      /^chunkswarm: this command needs the \.torrent file/,
    ],
  ];
  for (const [what, args, line] of refusals) {
    it(`refuses ${what} in one line, exit 2`, async () => {
      const p = h.cs(args);
      assert.equal(await p.exited(), 2, p.output());
      assert.match(p.output(), line);
      assert.equal(p.output().trim().split('\n').length, 1, p.output());
    });
  }
});
