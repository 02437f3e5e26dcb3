import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * The checks every dashboard request passes, kept free of I/O so they can be tested one by one:
 *
 * - Host: a page reached under a name we do not serve is refused, which defeats DNS rebinding
 *   (CVE-2018-5702: a site rebinds its own name to 127.0.0.1 and then reads and drives a local
 *   client). An IP literal cannot be rebound, so every IP literal passes; names pass only when listed.
 * - Origin: a state-changing request that carries an Origin (browsers send one) must come from the
 *   page's own origin.
 * - Request token: a state-changing request carries the per-process token the page got from the
 *   server. A cross-site form cannot read the token, so it cannot forge the request.
 * - Access token: on a non-loopback bind (or when the user set --web-token) every page request must
 *   present the token — there is no default password.
 */
export interface GuardOptions {
  /** Extra host names (no port) accepted in the Host header, besides IP literals and `localhost`. */
  readonly allowedHosts?: readonly string[];
  /** When set, every request must present it (query `token=`, cookie, or `Authorization: Bearer`). */
  readonly accessToken?: string | undefined;
  /** The token state-changing requests must carry; random when absent. */
  readonly requestToken?: string;
}

export type GuardVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: 400 | 401 | 403; readonly reason: string };

const OK: GuardVerdict = { ok: true };

/** The header a state-changing request carries its token in. */
export const TOKEN_HEADER = 'x-chunkswarm-token';

export class WebGuard {
  readonly requestToken: string;
  readonly accessToken: string | undefined;
  /** Cookie that keeps the access token once the page was opened with `?token=`. */
  readonly cookieName: string;
  readonly #hosts: Set<string>;

  constructor(opts: GuardOptions = {}, cookieSuffix = '') {
    this.requestToken = opts.requestToken ?? newToken();
    this.accessToken = opts.accessToken;
    // Cookies are shared by every port of a host, so a tracker page and a peer page on one machine
    // each keep their own.
    this.cookieName = `cs_access${cookieSuffix ? `_${cookieSuffix}` : ''}`;
    this.#hosts = new Set(['localhost', ...(opts.allowedHosts ?? []).map((h) => h.toLowerCase())]);
  }

  /** Host header check (DNS rebinding). */
  checkHost(hostHeader: string | undefined): GuardVerdict {
    const name = hostName(hostHeader);
    if (name === undefined) return { ok: false, status: 400, reason: 'missing or malformed Host header' };
    if (isIP(name) !== 0 || this.#hosts.has(name)) return OK;
    return {
      ok: false,
      status: 403,
      reason: `this page is not served under the name "${name}"; open it by IP address or as localhost`,
    };
  }

  /** Origin check for a state-changing request: absent passes (non-browser clients), foreign fails. */
  checkOrigin(originHeader: string | undefined, hostHeader: string | undefined): GuardVerdict {
    if (originHeader === undefined) return OK;
    const host = hostHeader?.toLowerCase();
    if (host !== undefined && originHeader.toLowerCase() === `http://${host}`) return OK;
    return { ok: false, status: 403, reason: 'cross-origin request refused' };
  }

  /** The per-process request token a state-changing request must carry. */
  checkRequestToken(header: string | undefined): GuardVerdict {
    if (header !== undefined && sameSecret(header, this.requestToken)) return OK;
    return {
      ok: false,
      status: 403,
      reason: header === undefined ? 'missing request token' : 'wrong request token',
    };
  }

  /**
   * The access token, when one is required. `fromQuery` is the `token` query parameter, `cookies` the
   * Cookie header, `authorization` the Authorization header.
   */
  checkAccess(
    fromQuery: string | undefined,
    cookies: string | undefined,
    authorization: string | undefined,
  ): GuardVerdict {
    const want = this.accessToken;
    if (want === undefined) return OK;
    const bearer = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
    const candidates = [fromQuery, readCookie(cookies, this.cookieName), bearer];
    if (candidates.some((c) => c !== undefined && sameSecret(c, want))) return OK;
    return {
      ok: false,
      status: 401,
      reason:
        'this page needs its token: open the address printed when the process started (it ends in ?token=...)',
    };
  }
}

/** 32 random bytes as base64url: unguessable, and safe in a URL, a header and a cookie. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The host name of a Host header, lowercased, without port or IPv6 brackets; undefined when malformed. */
export function hostName(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined) return undefined;
  const h = hostHeader.trim().toLowerCase();
  if (h === '') return undefined;
  if (h.startsWith('[')) {
    const m = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(h);
    return m && isIP(m[1]!) === 6 ? m[1]! : undefined;
  }
  const m = /^([a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(h);
  if (!m) return undefined;
  // A trailing dot names the same host ("localhost." is localhost) but must not dodge the list.
  return m[1]!.replace(/\.$/, '');
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function sameSecret(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}
