/**
 * Debian's Chromium driven through playwright-core, for the dashboard tests. Missing Chromium skips
 * them with a message naming the package; under CI=true it fails them instead.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ROOT } from '../integration/harness.js';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** `skip`: run nothing and say why; `fail`: CI lacks what it must have. */
export function browserGate(): { skip?: string; fail?: string } {
  const missing = [];
  if (!existsSync(CHROMIUM)) missing.push(`Chromium (${CHROMIUM}): install the Debian package \`chromium\``);
  if (!existsSync(join(ROOT, 'dist', 'web', 'assets', 'peer.js'))) {
    missing.push('the built pages (dist/web/assets): run `npm run build`');
  }
  if (missing.length === 0) return {};
  const why = `missing ${missing.join('; ')}`;
  return process.env.CI === 'true' ? { fail: why } : { skip: why };
}

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
}

/** A page that records its script errors (uncaught exceptions, console errors) into `errors`. */
export async function openPage(browser: Browser, url: string, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // Chrome logs every non-2xx answer as an error; refusals are part of the tests, so only script errors count.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
      errors.push(`console: ${msg.text()}`);
  });
  page.setDefaultTimeout(20_000);
  await page.goto(url);
  return page;
}

/** Polls `check` until it returns a value other than undefined/false, or fails with `what`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A GET with a Host header of our choosing (a browser will not send a foreign one for us). */
export function getWithHost(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Host: host }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
