import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostName, isLoopbackHost, readCookie, WebGuard } from '../../src/web/guard.js';
import { contentDisposition, escapeHtml } from '../../src/web/http.js';

test('Host: IP literals and localhost pass, with or without a port', () => {
  const g = new WebGuard();
  for (const h of [
    '127.0.0.1:8080',
    '127.0.0.1',
    '[::1]:9000',
    '[::1]',
    'localhost:1',
    'LOCALHOST',
    'localhost.:80',
    '192.168.1.20:6969',
  ]) {
    assert.equal(g.checkHost(h).ok, true, h);
  }
});

test('Host: a name we do not serve is refused (DNS rebinding), a listed one passes', () => {
  const g = new WebGuard({ allowedHosts: ['tracker.lan'] });
  for (const h of [
    'evil.example',
    'evil.example:8080',
    'localhost.evil.example',
    '127.0.0.1.nip.io:80',
    'tracker.lan.evil',
  ]) {
    const v = g.checkHost(h);
    assert.equal(v.ok, false, h);
    assert.equal(!v.ok && v.status, 403);
    assert.match(!v.ok ? v.reason : '', /not served under the name/);
  }
  assert.equal(g.checkHost('tracker.lan:6969').ok, true);
  assert.equal(g.checkHost('TRACKER.LAN').ok, true);
});

test('Host: missing or malformed is a 400', () => {
  const g = new WebGuard();
  for (const h of [undefined, '', 'a b', '[zz]:1', '127.0.0.1:99999x', 'user@127.0.0.1', '127.0.0.1:80/x']) {
    const v = g.checkHost(h);
    assert.equal(v.ok, false, String(h));
    assert.equal(!v.ok && v.status, 400, String(h));
  }
});

test('hostName strips port, brackets and a trailing dot', () => {
  assert.equal(hostName('Example.COM:80'), 'example.com');
  assert.equal(hostName('[::1]:8080'), '::1');
  assert.equal(hostName('localhost.'), 'localhost');
  assert.equal(hostName('[127.0.0.1]'), undefined);
});

test('Origin: absent passes, the page origin passes, anything else is refused', () => {
  const g = new WebGuard();
  assert.equal(g.checkOrigin(undefined, '127.0.0.1:8080').ok, true);
  assert.equal(g.checkOrigin('http://127.0.0.1:8080', '127.0.0.1:8080').ok, true);
  assert.equal(g.checkOrigin('HTTP://LOCALHOST:8080', 'localhost:8080').ok, true);
  for (const o of [
    'http://evil.example',
    'http://127.0.0.1:8081',
    'https://127.0.0.1:8080',
    'null',
    'http://127.0.0.1:8080.evil',
  ]) {
    const v = g.checkOrigin(o, '127.0.0.1:8080');
    assert.equal(v.ok, false, o);
    assert.equal(!v.ok && v.status, 403);
  }
});

test('request token: only the exact per-process token passes', () => {
  const g = new WebGuard();
  const other = new WebGuard();
  assert.notEqual(g.requestToken, other.requestToken, 'each process (guard) has its own token');
  assert.match(g.requestToken, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(g.checkRequestToken(g.requestToken).ok, true);
  for (const t of [undefined, '', other.requestToken, `${g.requestToken}x`, g.requestToken.slice(1)]) {
    const v = g.checkRequestToken(t);
    assert.equal(v.ok, false, String(t));
    assert.equal(!v.ok && v.status, 403);
  }
  assert.equal(new WebGuard({ requestToken: 'fixed' }).checkRequestToken('fixed').ok, true);
});

test('access token: not asked without one; with one, query, cookie or bearer must carry it', () => {
  assert.equal(new WebGuard().checkAccess(undefined, undefined, undefined).ok, true);
  const g = new WebGuard({ accessToken: 's3cret; x' }, '8080');
  assert.equal(g.cookieName, 'cs_access_8080');
  assert.equal(g.checkAccess(undefined, undefined, undefined).ok, false);
  const denied = g.checkAccess('nope', undefined, undefined);
  assert.equal(!denied.ok && denied.status, 401);
  assert.equal(g.checkAccess('s3cret; x', undefined, undefined).ok, true);
  assert.equal(
    g.checkAccess(undefined, `a=1; cs_access_8080=${encodeURIComponent('s3cret; x')}`, undefined).ok,
    true,
  );
  assert.equal(
    g.checkAccess(undefined, `cs_access_9090=${encodeURIComponent('s3cret; x')}`, undefined).ok,
    false,
  );
  assert.equal(g.checkAccess(undefined, undefined, 'Bearer s3cret; x').ok, true);
  assert.equal(g.checkAccess(undefined, undefined, 'Basic s3cret; x').ok, false);
});

test('readCookie finds one cookie among several and survives bad encoding', () => {
  assert.equal(readCookie('a=1; b=two; c=3', 'b'), 'two');
  assert.equal(readCookie('a=1', 'b'), undefined);
  assert.equal(readCookie('b=%E0%A4%A', 'b'), undefined);
  assert.equal(readCookie(undefined, 'b'), undefined);
});

test('isLoopbackHost: 127/8, ::1 and localhost only', () => {
  for (const h of ['127.0.0.1', '127.9.9.9', '::1', '[::1]', 'localhost'])
    assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.168.0.1', 'example.com', '128.0.0.1'])
    assert.equal(isLoopbackHost(h), false, h);
});

test('escapeHtml leaves no markup in a hostile name', () => {
  const name = `<img src=x onerror="alert('x')">&amp;`;
  const out = escapeHtml(name);
  assert.equal(out, '&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;amp;');
  assert.doesNotMatch(out, /[<>"']/);
});

test('contentDisposition keeps a hostile name out of the header syntax', () => {
  const h = contentDisposition('a"b;c\\d\u00e9.torrent');
  assert.match(
    h,
    /^attachment; filename="a_b_c_d_\.torrent"; filename\*=UTF-8''a%22b%3Bc%5Cd%C3%A9\.torrent$/,
  );
});
