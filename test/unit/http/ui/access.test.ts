import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import { createUiAccess, csrfProblem, type UiAccessConfig } from '../../../../src/http/ui/access.ts';
import { escapeHtml, html, safeHref } from '../../../../src/http/ui/html.ts';

function req(headers: Record<string, string>, remoteAddress = '127.0.0.1'): Request {
  return { headers, socket: { remoteAddress } } as unknown as Request;
}

const cfg: UiAccessConfig = {
  apiToken: 'tok-SECRET',
  trustedProxies: ['10.0.0.0/8', '::1'],
  userHeader: 'x-forwarded-user',
  groupsHeader: 'x-forwarded-groups',
  writers: ['group:sre', 'user:lead@corp'],
};

describe('who may look and write', () => {
  const access = createUiAccess(cfg);

  it('believes the proxy headers only from the trusted addresses (IPv4-mapped too)', () => {
    expect(access.viewer(req({ 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'dev, sre' }, '10.1.2.3'))).toEqual({
      user: 'alice',
      groups: ['dev', 'sre'],
      via: 'proxy',
      canWrite: true,
    });
    expect(access.viewer(req({ 'x-forwarded-user': 'alice' }, '::ffff:10.9.9.9'))?.user).toBe('alice');
    expect(access.viewer(req({ 'x-forwarded-user': 'bob' }, '::1'))).toMatchObject({ user: 'bob', canWrite: false });
    expect(access.viewer(req({ 'x-forwarded-user': 'lead@corp' }, '::1'))?.canWrite).toBe(true);
    // From anywhere else: not believed; with an API token configured, nobody.
    expect(access.viewer(req({ 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'sre' }, '192.168.1.5'))).toBeUndefined();
  });

  it('takes the API token (and it may write); a wrong token is nobody', () => {
    expect(access.viewer(req({ authorization: 'Bearer tok-SECRET' }, '192.168.1.5'))).toMatchObject({ via: 'token', canWrite: true });
    expect(access.viewer(req({ authorization: 'Bearer nope' }, '10.0.0.1'))).toBeUndefined();
    // A proxy passing the user's own token on (oauth2-proxy --pass-authorization-header): its user header decides.
    expect(access.viewer(req({ authorization: 'Bearer idp-token', 'x-forwarded-user': 'alice' }, '10.0.0.1'))).toMatchObject({ user: 'alice', via: 'proxy' });
  });

  it('lets nobody named read (never write) only when the API is open', () => {
    const open = createUiAccess({ ...cfg, apiToken: undefined, trustedProxies: [] });
    expect(open.viewer(req({ 'x-forwarded-user': 'alice' }))).toEqual({ user: 'anonymous', groups: [], via: 'anonymous', canWrite: false });
  });

  it('refuses a write without the same origin and the form token equal to the cookie', () => {
    const token = 'A'.repeat(32);
    const base = { host: 'meshdrift.local:8080', cookie: `other=1; meshdrift-csrf=${token}` };
    expect(csrfProblem(access, req({ ...base, origin: 'http://meshdrift.local:8080' }), token)).toBeUndefined();
    expect(csrfProblem(access, req({ ...base, origin: 'https://evil.example' }), token)).toMatch(/Origin/);
    expect(csrfProblem(access, req(base), token)).toMatch(/Origin/);
    expect(csrfProblem(access, req({ ...base, origin: 'http://meshdrift.local:8080' }), 'B'.repeat(32))).toMatch(/form token/);
    expect(csrfProblem(access, req({ ...base, origin: 'http://meshdrift.local:8080' }), undefined)).toMatch(/form token/);
    expect(csrfProblem(access, req({ ...base, origin: 'http://meshdrift.local:8080', 'sec-fetch-site': 'cross-site' }), token)).toMatch(/another site/);
    // Behind the trusted proxy on https: the __Host- cookie and the https origin.
    const https = { host: 'drift.corp', 'x-forwarded-proto': 'https', cookie: `__Host-meshdrift-csrf=${token}`, origin: 'https://drift.corp' };
    expect(csrfProblem(access, req(https, '10.0.0.7'), token)).toBeUndefined();
    expect(csrfProblem(access, req(https, '192.168.0.1'), token)).toMatch(/Origin/);
  });
});

describe('the HTML template', () => {
  it('escapes every value, sanitises control and bidi characters, and keeps markup made by itself', () => {
    const name = `<img src=x onerror="alert('x')">\u202Eevil\nline`;
    const out = html`<td title="${name}">${name}</td>${html`<b>${'&'}</b>`}`.value;
    expect(out).toBe(
      '<td title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;\uFFFDevil line">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;\uFFFDevil line</td><b>&amp;</b>',
    );
    expect(escapeHtml(`<>&"'`)).toBe('&lt;&gt;&amp;&quot;&#39;');
  });

  it('puts only http(s) and same-site links in an href', () => {
    expect(safeHref('javascript:alert(1)')).toBe('#');
    expect(safeHref('data:text/html,x')).toBe('#');
    expect(safeHref('//evil.example/x')).toBe('#');
    expect(safeHref('/ui/silences')).toBe('/ui/silences');
    expect(safeHref('https://argocd.example.com/applications/a')).toBe('https://argocd.example.com/applications/a');
  });
});
