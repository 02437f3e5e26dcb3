/**
 * Several hosts: a tracker, a seeder and two downloaders, each in its own network namespace with
 * its own address, joined by a bridge that lives in one more namespace. Addresses are assigned only
 * inside those namespaces, so no packet leaves them. It shows what loopback cannot: every peer binds
 * 0.0.0.0, the tracker records each host's own address, and peers reach each other by it.
 *
 * Needs root and iproute2 (skipped otherwise; under CI=true a missing `ip` fails the test).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { decode, dictGet, isDict } from '../../src/codec/index.js';
import { needPackages } from '../interop/gate.js';
import { BIN, Harness, makeFile, sameBytes } from './harness.js';

const HOSTS = ['tracker', 'seed', 'l1', 'l2'] as const;
type Host = (typeof HOSTS)[number];

function ip(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function must(args: string[]): void {
  const r = ip(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')} failed: ${r.out}`);
}

test('a tracker, a seeder and two downloaders on four hosts (network namespaces) over a bridge', {
  timeout: 120_000,
}, async (t) => {
  if (!needPackages(t, 'iproute2')) return;
  if (process.getuid?.() !== 0) {
    t.skip('needs root to create network namespaces');
    return;
  }
  const tag = `cs-${randomBytes(3).toString('hex')}`;
  const ns = (host: Host | 'br'): string => `${tag}-${host}`;
  const subnet = `10.231.${randomBytes(1)[0]!}`;
  const addr: Record<Host, string> = {
    tracker: `${subnet}.1`,
    seed: `${subnet}.2`,
    l1: `${subnet}.3`,
    l2: `${subnet}.4`,
  };
  const created: string[] = [];
  const h = new Harness();
  try {
    const first = ip(['netns', 'add', ns('br')]);
    if (!first.ok) {
      t.skip(`cannot create network namespaces here: ${first.out}`);
      return;
    }
    created.push(ns('br'));
    must(['-n', ns('br'), 'link', 'set', 'lo', 'up']);
    must(['-n', ns('br'), 'link', 'add', 'br0', 'type', 'bridge']);
    must(['-n', ns('br'), 'link', 'set', 'br0', 'up']);
    for (const host of HOSTS) {
      must(['netns', 'add', ns(host)]);
      created.push(ns(host));
      must(['-n', ns(host), 'link', 'set', 'lo', 'up']);
      // Both ends are made inside namespaces, so no interface ever appears on the machine itself.
      must([
        '-n',
        ns('br'),
        'link',
        'add',
        `p-${host}`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns(host),
      ]);
      must(['-n', ns('br'), 'link', 'set', `p-${host}`, 'master', 'br0', 'up']);
      must(['-n', ns(host), 'addr', 'add', `${addr[host]}/24`, 'dev', 'eth0']);
      must(['-n', ns(host), 'link', 'set', 'eth0', 'up']);
    }

    const dir = await h.setup();
    const on = (host: Host, args: string[]) =>
      h.spawn('ip', ['netns', 'exec', ns(host), process.execPath, BIN, ...args]);

    const tracker = on('tracker', ['tracker', '--host', '0.0.0.0', '--port', '6969']);
    await tracker.waitFor(/tracker listening on http:\/\/\S+\/announce/);
    const announce = `http://${addr.tracker}:6969/announce`;

    const data = join(dir, 'lecture.bin');
    await makeFile(data, 6 * 1024 * 1024 + 4_321, 'netns lecture');
    const torrent = join(dir, 'lecture.torrent');
    const create = h.cs(['create', data, '--tracker', announce, '-o', torrent]);
    assert.equal(await create.exited(), 0, create.output());
    const infoHash = Buffer.from(create.output().split('\n')[0]!, 'hex');

    const seed = on('seed', ['seed', torrent, '--data', data, '--host', '0.0.0.0', '--port', '6881']);
    await seed.waitFor(/^seeding lecture\.bin on /m, 30_000);

    // Both keep seeding after completion, so the tracker still lists them when asked below.
    const leechers = (['l1', 'l2'] as const).map((host) =>
      on(host, [
        'download',
        torrent,
        '--out',
        join(dir, host),
        '--host',
        '0.0.0.0',
        '--port',
        '6881',
        '--seed',
      ]),
    );
    for (const [i, l] of leechers.entries()) {
      await l.waitFor(/^complete lecture\.bin\b/m, 60_000).catch((err: Error) => {
        throw new Error(
          `${err.message}\n--- seeder ---\n${seed.output()}\n--- tracker ---\n${tracker.output()}`,
        );
      });
      assert.ok(await sameBytes(join(dir, `l${i + 1}`, 'lecture.bin'), data), `l${i + 1} saved other bytes`);
    }

    // Ask the tracker from inside l1, as a client would: a non-compact peer list carries each ip.
    const query =
      `info_hash=${[...infoHash].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}` +
      `&peer_id=-XX0000-netnsquery00&port=1&uploaded=0&downloaded=0&left=1&compact=0&numwant=50`;
    // As a leecher (left=1): a seeder would be sent only leechers. Then leave with event=stopped.
    const script =
      `const u = ${JSON.stringify(`${announce}?${query}`)};` +
      `const r = await fetch(u); const body = Buffer.from(await r.arrayBuffer());` +
      `await fetch(u + '&event=stopped'); process.stdout.write(body.toString('base64'));`;
    const asked = spawnSync(
      'ip',
      ['netns', 'exec', ns('l1'), process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 15_000 },
    );
    assert.equal(asked.status, 0, `announce from l1 failed: ${asked.stderr}`);
    const body = decode(Buffer.from(asked.stdout, 'base64'));
    assert.ok(isDict(body), 'tracker reply is not a dictionary');
    const failure = dictGet(body, 'failure reason');
    assert.equal(failure, undefined, `tracker refused: ${failure}`);
    const peers = dictGet(body, 'peers');
    assert.ok(Array.isArray(peers), `expected a non-compact peer list, got ${typeof peers}`);
    const seen = new Set<string>();
    for (const p of peers) {
      assert.ok(isDict(p));
      const pip = dictGet(p, 'ip');
      const pport = dictGet(p, 'port');
      assert.ok(Buffer.isBuffer(pip) && typeof pport === 'number');
      seen.add(`${pip.toString()}:${pport}`);
    }
    for (const host of ['seed', 'l1', 'l2'] as const) {
      assert.ok(
        seen.has(`${addr[host]}:6881`),
        `tracker does not list ${host} at ${addr[host]}:6881: ${[...seen]}`,
      );
    }
    // The seeder met the downloaders at their own addresses, not at the bridge's or loopback's.
    assert.match(seed.output(), new RegExp(`peer connected: ${addr.l1.replace(/\./g, '\\.')}:`));
    assert.match(seed.output(), new RegExp(`peer connected: ${addr.l2.replace(/\./g, '\\.')}:`));
  } finally {
    await h.teardown();
    for (const name of created.reverse()) ip(['netns', 'del', name]);
  }
  const left = ip(['netns', 'list']).out;
  assert.ok(!left.includes(tag), `namespaces left behind: ${left}`);
});
