/**
 * chunkswarm's UDP tracker client (BEP 15) against a tracker it did not write: Debian's
 * opentracker, on loopback. Two clients announce one whitelisted swarm over udp://; the second
 * gets the first as a peer, and a scrape counts both.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { TrackerClient, udpScrape } from '../../src/tracker/client/index.js';
import { needPackages } from './gate.js';

const OPENTRACKER = '/usr/bin/opentracker';
/** Longest opentracker may live, whatever happens to this test process. */
const OPENTRACKER_SECONDS = 60;

let proc: ChildProcess | undefined;
let dir: string | undefined;
let output = '';

after(async () => {
  const child = proc;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    // `timeout` passes the signal on to opentracker.
    process.kill(child.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A port free for both TCP and UDP on 127.0.0.1 (opentracker binds both). */
async function freeTcpUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as { port: number }).port;
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    await new Promise<void>((r) => tcp.close(() => r()));
    if (ok) await new Promise<void>((r) => udp.close(() => r()));
    if (ok) return port;
  }
  throw new Error('no port free for both TCP and UDP');
}

test('TrackerClient announces and scrapes over UDP with opentracker', { timeout: 45_000 }, async (t) => {
  if (!needPackages(t, 'opentracker')) return;
  const infoHash = Buffer.from('5ca1ab1e'.repeat(5), 'hex');
  // Run as root, opentracker chroots into -d and drops to nobody: the folder and the whitelist
  // must be readable by everyone.
  dir = mkdtempSync(join(tmpdir(), 'cs-opentracker-'));
  chmodSync(dir, 0o755);
  const whitelist = join(dir, 'whitelist.txt');
  writeFileSync(whitelist, `${infoHash.toString('hex')}\n`);
  chmodSync(whitelist, 0o644);
  const port = await freeTcpUdpPort();
  // -i comes first: it applies to the ports named after it.
  proc = spawn(
    'timeout',
    [
      String(OPENTRACKER_SECONDS),
      OPENTRACKER,
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-P',
      String(port),
      '-d',
      dir,
      '-w',
      'whitelist.txt',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  proc.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const url = `udp://127.0.0.1:${port}/announce`;

  // Ready when it answers a UDP scrape; each failed probe is a short wait, not a busy loop.
  const readyBy = Date.now() + 15_000;
  for (;;) {
    try {
      await udpScrape(url, [infoHash], { timeoutMs: 500, tries: 2, tryTimeoutMs: 100 });
      break;
    } catch (err) {
      if (proc.exitCode !== null || Date.now() > readyBy) {
        assert.fail(`opentracker did not answer on udp port ${port}: ${String(err)}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const client = (n: number) =>
    new TrackerClient({
      tiers: [[url]],
      infoHash,
      peerId: Buffer.from(`-CS0001-udp-interop${n}`, 'latin1'),
      port: 51_000 + n,
      timeoutMs: 5000,
      udpTryTimeoutMs: 500,
    });
  // Its whitelist is read after its sockets are up: until then a listed swarm is refused like any other
  // (a bare 8-byte reply). A `stopped` announce from a peer it never saw adds nobody.
  for (;;) {
    try {
      await client(9).announce({ event: 'stopped', uploaded: 0, downloaded: 0, left: 0 });
      break;
    } catch (err) {
      if (!isChunkswarmError(err, 'ETRACKER_RESPONSE') || Date.now() > readyBy) {
        assert.fail(`opentracker did not take the whitelisted swarm: ${String(err)}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const seeder = client(1);
  const leecher = client(2);
  const first = await seeder.announce({ event: 'started', uploaded: 0, downloaded: 0, left: 0 });
  assert.equal(first.url, url);
  assert.ok(first.interval > 0, `interval ${first.interval}`);
  const second = await leecher.announce({ event: 'started', uploaded: 0, downloaded: 0, left: 1000 });
  // opentracker lists the asking peer too (it knows peers by address, not by peer id).
  assert.ok(
    second.peers.some((p) => p.ip === '127.0.0.1' && p.port === 51_001),
    `the first peer among ${JSON.stringify(second.peers)}`,
  );
  assert.equal(second.complete, 1);
  assert.equal(second.incomplete, 1);

  const stats = await leecher.scrape();
  assert.equal(stats.url, url);
  assert.equal(stats.complete, 1);
  assert.equal(stats.incomplete, 1);

  const stranger = new TrackerClient({
    tiers: [[url]],
    infoHash: Buffer.alloc(20, 0x42),
    peerId: Buffer.from('-CS0001-udp-interop3', 'latin1'),
    port: 51_003,
    timeoutMs: 3000,
    udpTryTimeoutMs: 300,
  });
  // A swarm outside the whitelist: opentracker sends back a bare 8-byte header, no message.
  await assert.rejects(
    stranger.announce({ uploaded: 0, downloaded: 0, left: 1 }),
    (err: unknown) =>
      isChunkswarmError(err, 'ETRACKER_RESPONSE') && /may not track this torrent/.test(err.message),
  );

  await leecher.announce({ event: 'stopped', uploaded: 0, downloaded: 0, left: 1000 });
  const after = await seeder.scrape();
  assert.equal(after.incomplete, 0, 'the stopped leecher left the swarm');
});
