import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { escapeHtml } from './http.js';

/** The bundles `scripts/build-web.mjs` writes; nothing else is ever served from disk. */
const FILES: Readonly<Record<string, string>> = {
  'tracker.js': 'text/javascript; charset=utf-8',
  'tracker.css': 'text/css; charset=utf-8',
  'peer.js': 'text/javascript; charset=utf-8',
  'peer.css': 'text/css; charset=utf-8',
};

export type PageKind = 'tracker' | 'peer';

/**
 * Where the bundles are: beside the compiled server (`dist/web/assets`); from the command line's bundle
 * (`dist/cli/app.cjs`, see scripts/build-cli.mjs), next door in `dist/web/assets`; or, when the server
 * runs from its TypeScript source (tests through tsx), in the built tree of the same checkout.
 */
export function defaultAssetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [join(here, 'assets'), join(here, '..', 'web', 'assets')])
    if (existsSync(dir)) return dir;
  return join(here, '..', '..', 'dist', 'web', 'assets');
}

export class StaticAssets {
  readonly dir: string;
  readonly #cache = new Map<string, Buffer>();

  constructor(dir = defaultAssetsDir()) {
    this.dir = dir;
  }

  /** Whether the page's bundle exists: without it the page says how to build it. */
  has(kind: PageKind): boolean {
    return existsSync(join(this.dir, `${kind}.js`));
  }

  /** A file by its name under /assets/, or undefined for anything not in the list. */
  async get(name: string): Promise<{ body: Buffer; type: string } | undefined> {
    const type = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
    if (type === undefined) return undefined;
    let body = this.#cache.get(name);
    if (!body) {
      try {
        body = await readFile(join(this.dir, name));
      } catch {
        return undefined;
      }
      this.#cache.set(name, body);
    }
    return { body, type };
  }
}

/**
 * The page's HTML: a shell the bundle fills in. The title is the only text from elsewhere in it and
 * goes through escapeHtml; the request token rides in a meta tag for the page's script to read.
 */
export function renderPage(opts: {
  kind: PageKind;
  title: string;
  requestToken: string;
  built: boolean;
}): string {
  const title = escapeHtml(opts.title);
  const body = opts.built
    ? `<div id="app"><p class="loading">loading…</p></div>\n<script src="/assets/${opts.kind}.js"></script>`
    : '<main class="unbuilt"><h1>The dashboard is not built</h1>' +
      '<p>Its scripts are missing: run <code>npm run build</code> in the chunkswarm folder, then reload.</p></main>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="cs-token" content="${escapeHtml(opts.requestToken)}">
<link rel="icon" href="data:,">
<title>${title}</title>
<link rel="stylesheet" href="/assets/${opts.kind}.css">
</head>
<body>
${body}
<noscript>This dashboard needs JavaScript.</noscript>
</body>
</html>
`;
}
