/**
 * Package gating (project rule): a test that needs a Debian package runs where the package is
 * installed, is skipped with a message naming it where it is not, and fails instead of skipping
 * under CI=true, so a CI image that lost a package cannot pass by running nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** Debian's interpreter: python3-libtorrent lives in its dist-packages, not in a python3 earlier on PATH. */
export const PYTHON = '/usr/bin/python3';

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/**
 * How to tell a package is usable: run what the tests run, since an installed package whose
 * binary cannot start is as good as missing. Other packages ask dpkg.
 */
const PROBES: Record<string, () => boolean> = {
  aria2: () => runs('aria2c', ['--version']),
  'python3-libtorrent': () => runs(PYTHON, ['-c', 'import libtorrent']),
  iproute2: () => runs('ip', ['-V']),
};

const cache = new Map<string, boolean>();

export function hasPackage(pkg: string): boolean {
  let ok = cache.get(pkg);
  if (ok === undefined) {
    const probe = PROBES[pkg];
    if (probe) ok = probe();
    else {
      const r = spawnSync('dpkg-query', ['--status', pkg], { encoding: 'utf8', timeout: 10_000 });
      ok = r.status === 0 && r.stdout.includes('Status: install ok installed');
    }
    cache.set(pkg, ok);
  }
  return ok;
}

export function underCI(): boolean {
  return process.env.CI === 'true';
}

/**
 * True when every package is there. Otherwise skips the test (`needs Debian package X`) and
 * returns false, so the caller returns at once; under CI=true it throws instead.
 */
export function needPackages(t: TestContext, ...pkgs: string[]): boolean {
  const missing = pkgs.filter((p) => !hasPackage(p));
  if (missing.length === 0) return true;
  const message = `needs Debian package${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  if (underCI()) assert.fail(`${message}, which is not installed (CI=true turns this skip into a failure)`);
  t.skip(message);
  return false;
}
