import type { IncomingMessage, ServerResponse } from 'node:http';
import { type PageKind, renderPage, StaticAssets } from './assets.js';
import { TOKEN_HEADER, type WebGuard } from './guard.js';
import { send, sendError, sendJson, splitUrl } from './http.js';
import type { SseHub } from './sse.js';

export interface Route {
  readonly method: 'GET' | 'POST';
  /** An exact path, or a pattern whose groups are handed to the handler. */
  readonly path: string | RegExp;
  handle(req: IncomingMessage, res: ServerResponse, params: readonly string[]): void | Promise<void>;
}

export interface WebAppOptions {
  readonly kind: PageKind;
  readonly guard: WebGuard;
  readonly assets?: StaticAssets;
  /** The page title (may come from the network: it is escaped). */
  readonly title: () => string;
  /** The state pushed to a page when it opens `/events`, and on every change after. */
  readonly state: () => unknown;
  readonly hub: SseHub;
  readonly routes: readonly Route[];
}

/**
 * The part both dashboards share: the guard in front of everything (Host, access token, Origin and
 * request token for POSTs), the page, its bundle, the event stream, and routing to the rest.
 * `handle` answers every request it is given and returns true, so it serves as the tracker's
 * handler of non-tracker paths as well as a server of its own.
 */
export class WebApp {
  readonly #o: WebAppOptions;
  readonly #assets: StaticAssets;

  constructor(opts: WebAppOptions) {
    this.#o = opts;
    this.#assets = opts.assets ?? new StaticAssets();
  }

  get guard(): WebGuard {
    return this.#o.guard;
  }

  handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    this.#handle(req, res).catch((err) => sendError(res, err));
    return true;
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { guard } = this.#o;
    const { path, query } = splitUrl(req.url);
    const api = path.startsWith('/api/') || path === '/events';

    const host = guard.checkHost(req.headers.host);
    if (!host.ok) return refuse(res, host.status, host.reason, api);

    const token = query.get('token') ?? undefined;
    const access = guard.checkAccess(token, req.headers.cookie, header(req, 'authorization'));
    if (!access.ok) return refuse(res, access.status, access.reason, api);
    if (token !== undefined && guard.accessToken !== undefined && req.method === 'GET' && !api) {
      // Keep the token in a cookie only this page's origin sends, and take it out of the address bar.
      // Always back to the root: echoing the path would make this an open redirect (`/.//evil.example`).
      res.writeHead(303, {
        Location: '/',
        'Set-Cookie': `${guard.cookieName}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        'Cache-Control': 'no-store',
      });
      res.end();
      return;
    }

    if (req.method === 'POST') {
      const origin = guard.checkOrigin(header(req, 'origin'), req.headers.host);
      if (!origin.ok) return refuse(res, origin.status, origin.reason, true);
      const csrf = guard.checkRequestToken(header(req, TOKEN_HEADER));
      if (!csrf.ok) {
        // The page reads the token from this answer and tries again; another site cannot read it.
        sendJson(
          res,
          403,
          { error: csrf.reason, token: guard.requestToken },
          { [TOKEN_HEADER]: guard.requestToken, Connection: 'close' },
        );
        return;
      }
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(
        res,
        405,
        { error: `${req.method} is not used here` },
        { Allow: 'GET, POST', Connection: 'close' },
      );
      return;
    }

    if (req.method !== 'POST') {
      if (path === '/' || path === '/index.html') {
        const built = this.#assets.has(this.#o.kind);
        const html = renderPage({
          kind: this.#o.kind,
          title: this.#o.title(),
          requestToken: guard.requestToken,
          built,
        });
        send(res, 200, 'text/html; charset=utf-8', html, { 'Cache-Control': 'no-store' });
        return;
      }
      if (path.startsWith('/assets/')) {
        const file = await this.#assets.get(path.slice('/assets/'.length));
        if (!file) sendJson(res, 404, { error: 'no such file' });
        else send(res, 200, file.type, file.body, { 'Cache-Control': 'no-cache' });
        return;
      }
      if (path === '/events') {
        this.#o.hub.open(res, 'state', this.#o.state());
        return;
      }
    }

    for (const route of this.#o.routes) {
      if (route.method !== (req.method === 'HEAD' ? 'GET' : req.method)) continue;
      if (typeof route.path === 'string') {
        if (route.path === path) return route.handle(req, res, []);
      } else {
        const m = route.path.exec(path);
        if (m) return route.handle(req, res, m.slice(1));
      }
    }
    sendJson(res, 404, { error: `nothing at ${path}` });
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function refuse(res: ServerResponse, status: number, reason: string, api: boolean): void {
  // Close: a refused client has no business keeping the connection, and a body it sent goes unread.
  if (api) sendJson(res, status, { error: reason }, { Connection: 'close' });
  else send(res, status, 'text/plain; charset=utf-8', `${reason}\n`, { Connection: 'close' });
}
