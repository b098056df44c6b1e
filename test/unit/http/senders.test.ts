import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { Sender } from '../../../src/http/senders.ts';

// The real timingSafeEqual, wrapped in a spy: the timing test below counts the compares.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
// Unit files share their worker's module cache (vitest.config.ts, isolate: false): load these afresh,
// after the mock, so that senders.ts compares with the spy whatever file imported it before.
vi.resetModules();
const { ConfigError, loadEnv } = await import('../../../src/config/env.ts');
const { assertNothingOpenByAccident, describeExposure } = await import('../../../src/http/exposure.ts');
const { claimedCluster, loadSenders, scopeRefusal } = await import('../../../src/http/senders.ts');

const STAGING = 'staging-argocd-token-0123456789';
const PROD = 'prod-argocd-token-0123456789abc';
const FLUX_KEY = 'flux-prod-hmac-key-0123456789';

/** loadSenders with a senders file held in memory (path → text). */
function senders(raw: Record<string, string>, files: Record<string, string> = {}) {
  const env = loadEnv(raw);
  return loadSenders(env, raw, (path) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  });
}

const FILE = `
senders:
  - name: argocd-staging
    tool: argocd
    token_env: STAGING_TOKEN
    clusters: [staging]
  - name: argocd-prod
    tool: argocd
    token_file: /secrets/prod
    clusters: [prod-eu, prod-us]
    projects: [mesh]
    namespaces: [argocd]
  - name: flux-prod
    tool: flux
    hmac_key_env: FLUX_PROD_KEY
    clusters: [prod-eu]
    namespaces: [flux-system]
`;
const withFile = (extra: Record<string, string> = {}) =>
  senders(
    { MESHDRIFT_SENDERS_FILE: '/etc/senders.yaml', STAGING_TOKEN: STAGING, FLUX_PROD_KEY: FLUX_KEY, ...extra },
    { '/etc/senders.yaml': FILE, '/secrets/prod': `${PROD}\n` },
  );
const bearer = (t: string) => `Bearer ${t}`;

describe('sender credentials', () => {
  it('each token authenticates as its own sender; an unknown one is refused', () => {
    const s = withFile();
    const raw = Buffer.from('{}');
    expect(s.authenticate('argocd', { authorization: bearer(STAGING), raw })).toMatchObject({
      ok: true,
      sender: { name: 'argocd-staging', clusters: ['staging'] },
    });
    // Read from the file, trailing newline trimmed.
    expect(s.authenticate('argocd', { authorization: bearer(PROD), raw })).toMatchObject({ ok: true, sender: { name: 'argocd-prod' } });
    expect(s.authenticate('argocd', { authorization: bearer('nope-nope-nope-nope-nope'), raw })).toEqual({ ok: false, reason: 'invalid bearer token' });
    // An Argo CD token is not a Flux credential.
    expect(s.authenticate('flux', { authorization: bearer(STAGING), raw })).toMatchObject({ ok: false });
  });

  it('every credential is compared, whichever matches (the time does not say which one did)', () => {
    const raw: Record<string, string> = { MESHDRIFT_SENDERS_FILE: '/s.yaml' };
    let file = 'senders:\n';
    for (let i = 0; i < 10; i++) {
      raw[`T${i}`] = `token-number-${i}-0123456789`;
      file += `  - {name: s${i}, tool: argocd, token_env: T${i}, clusters: [c${i}]}\n`;
    }
    const s = senders(raw, { '/s.yaml': file });
    const spy = vi.mocked(timingSafeEqual);
    for (const [token, name] of [
      ['token-number-0-0123456789', 's0'],
      ['token-number-9-0123456789', 's9'],
      ['not-any-of-them-0123456789', undefined],
    ] as const) {
      spy.mockClear();
      const result = s.authenticate('argocd', { authorization: `Bearer ${token}`, raw: Buffer.alloc(0) });
      expect(spy).toHaveBeenCalledTimes(10);
      for (const [a, b] of spy.mock.calls) expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
      expect(result.ok ? result.sender.name : undefined).toBe(name);
    }
  });

  it('a Flux HMAC sender is found by its signature', () => {
    const s = withFile();
    const raw = Buffer.from('{"a":1}');
    const sig = `sha256=${createHmac('sha256', FLUX_KEY).update(raw).digest('hex')}`;
    expect(s.authenticate('flux', { signature: sig, raw })).toMatchObject({ ok: true, sender: { name: 'flux-prod', kind: 'hmac' } });
    expect(s.authenticate('flux', { signature: `sha256=${'0'.repeat(64)}`, raw })).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(s.authenticate('flux', { raw })).toEqual({ ok: false, reason: 'missing X-Signature header' });
  });

  it('the secrets never appear in what senders expose (list, start log)', () => {
    const s = withFile({ MESHDRIFT_ARGOCD_TOKEN: 'legacy-argocd-token-0123456789' });
    const shown = JSON.stringify([s.list(), describeExposure(loadEnv({ MESHDRIFT_API_TOKEN: 'api-token-0123456789abcdef' }), s)]);
    for (const secret of [STAGING, PROD, FLUX_KEY, 'legacy-argocd-token-0123456789']) expect(shown).not.toContain(secret);
    expect(shown).toContain('env STAGING_TOKEN');
    expect(shown).toContain('file /secrets/prod');
  });

  it('scope: cluster, then project, then namespace', () => {
    const s = withFile();
    const prod = s.list().find((x) => x.name === 'argocd-prod') as Sender;
    expect(scopeRefusal(prod, { cluster: 'prod-us', project: 'mesh', namespace: 'argocd' })).toBeUndefined();
    expect(scopeRefusal(prod, { cluster: 'staging', project: 'mesh', namespace: 'argocd' })).toBe('cluster');
    expect(scopeRefusal(prod, { cluster: 'prod-eu', project: 'payments', namespace: 'argocd' })).toBe('project');
    expect(scopeRefusal(prod, { cluster: 'prod-eu', project: undefined, namespace: 'argocd' })).toBe('project');
    expect(scopeRefusal(prod, { cluster: 'prod-eu', project: 'mesh', namespace: 'team-a' })).toBe('namespace');
  });

  it("the claimed cluster: the one named, else the sender's only cluster, else MESHDRIFT_CLUSTER", () => {
    const s = withFile();
    const staging = s.list().find((x) => x.name === 'argocd-staging');
    const prod = s.list().find((x) => x.name === 'argocd-prod');
    expect(claimedCluster('prod-eu', staging, 'home')).toBe('prod-eu');
    expect(claimedCluster(undefined, staging, 'home')).toBe('staging');
    expect(claimedCluster('', staging, 'home')).toBe('staging');
    expect(claimedCluster(undefined, prod, 'home')).toBe('home');
    expect(claimedCluster(undefined, undefined, 'home')).toBe('home');
  });

  it('the legacy variables speak for MESHDRIFT_CLUSTER alone, unless MESHDRIFT_LEGACY_SENDER_CLUSTERS widens them', () => {
    const legacy = (extra: Record<string, string>) =>
      senders({
        MESHDRIFT_CLUSTER: 'prod',
        MESHDRIFT_ARGOCD_TOKEN: 'legacy-argocd-token-0123456789',
        MESHDRIFT_FLUX_TOKEN: 'legacy-flux-token-0123456789',
        ...extra,
      }).list();
    expect(legacy({})).toEqual([
      expect.objectContaining({ name: 'argocd-token', tool: 'argocd', kind: 'token', from: 'MESHDRIFT_ARGOCD_TOKEN', clusters: ['prod'] }),
      expect.objectContaining({ name: 'flux-token', tool: 'flux', kind: 'token', from: 'MESHDRIFT_FLUX_TOKEN', clusters: ['prod'] }),
    ]);
    expect(legacy({ MESHDRIFT_LEGACY_SENDER_CLUSTERS: 'prod, staging' })[0]?.clusters).toEqual(['prod', 'staging']);
    expect(legacy({ MESHDRIFT_LEGACY_SENDER_CLUSTERS: '*' })[0]?.clusters).toBe('any');
    expect(() => loadEnv({ MESHDRIFT_LEGACY_SENDER_CLUSTERS: '*,prod' })).toThrow(/MESHDRIFT_LEGACY_SENDER_CLUSTERS: "\*" \(any cluster\) stands alone/);
  });

  it.each<[string, string, RegExp]>([
    ['an unknown key', 'senders: [{name: a, tool: argocd, token_env: T, clusters: [x], cluster: y}]', /senders\.0: Unrecognized key: "cluster"/],
    [
      'no credential',
      'senders: [{name: a, tool: argocd, clusters: [x]}]',
      /give exactly one of token_file, token_env, hmac_key_file, hmac_key_env \(got none\)/,
    ],
    ['two credentials', 'senders: [{name: a, tool: flux, token_env: T, hmac_key_env: T, clusters: [x]}]', /got token_env, hmac_key_env/],
    ['an HMAC key for Argo CD', 'senders: [{name: a, tool: argocd, hmac_key_env: T, clusters: [x]}]', /Argo CD cannot sign its webhooks/],
    [
      'projects on a Flux sender',
      'senders: [{name: a, tool: flux, token_env: T, clusters: [x], projects: [p]}]',
      /senders\.0\.projects: projects are Argo CD projects/,
    ],
    ['no clusters', 'senders: [{name: a, tool: argocd, token_env: T, clusters: []}]', /clusters: list at least one/],
    [
      'a name twice',
      'senders: [{name: a, tool: argocd, token_env: T, clusters: [x]}, {name: a, tool: flux, token_env: T, clusters: [x]}]',
      /sender name "a" is used twice/,
    ],
    ['a name unfit for a metric label', 'senders: [{name: "A B", tool: argocd, token_env: T, clusters: [x]}]', /senders\.0\.name: lower-case letters/],
  ])('a senders file with %s is refused, naming the entry', (_what, text, message) => {
    const load = () => senders({ MESHDRIFT_SENDERS_FILE: '/s.yaml', T: 'a-token-long-enough-0123' }, { '/s.yaml': text });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  it('a sender whose secret is missing, unreadable or a placeholder is refused, naming the sender and never the value', () => {
    const file = `senders:
  - {name: a, tool: argocd, token_env: UNSET_VAR, clusters: [x]}
  - {name: b, tool: argocd, token_file: /missing, clusters: [x]}
  - {name: c, tool: argocd, token_env: PLACEHOLDER, clusters: [x]}
  - {name: d, tool: argocd, token_env: SHORT, clusters: [x]}`;
    let message = '';
    try {
      senders({ MESHDRIFT_SENDERS_FILE: '/s.yaml', PLACEHOLDER: 'REPLACE_ME_TOKEN_FOR_C', SHORT: 'tiny-9f' }, { '/s.yaml': file });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('senders.0 (a): variable UNSET_VAR is not set');
    expect(message).toContain('senders.1 (b): cannot read /missing: ENOENT');
    expect(message).toMatch(/senders\.2 \(c\): the secret in env PLACEHOLDER looks like a placeholder/);
    expect(message).toMatch(/senders\.3 \(d\): the secret in env SHORT is shorter than 16 characters/);
    expect(message).not.toContain('REPLACE_ME_TOKEN_FOR_C');
    expect(message).not.toContain('tiny-9f');
  });
});

describe('what is open', () => {
  it('refuses each open endpoint MESHDRIFT_ALLOW_UNAUTHENTICATED does not list, saying how to close it', () => {
    const env = loadEnv({ MESHDRIFT_ARGOCD_TOKEN: 'legacy-argocd-token-0123456789' });
    const exposure = describeExposure(env, loadSenders(env, {}));
    expect(exposure.open).toEqual(['flux', 'api']);
    expect(exposure.refused).toEqual(['flux', 'api']);
    expect(() => assertNothingOpenByAccident(exposure)).toThrow(ConfigError);
    expect(() => assertNothingOpenByAccident(exposure)).toThrow(/\/webhooks\/flux would be open to anyone who reaches the port: set MESHDRIFT_FLUX_HMAC_KEY/);
    expect(() => assertNothingOpenByAccident(exposure)).toThrow(
      /\/api\/v1 would be open to anyone who reaches the port: set MESHDRIFT_API_TOKEN, or add "api" to MESHDRIFT_ALLOW_UNAUTHENTICATED/,
    );
    expect(exposure.endpoints['/webhooks/argocd']).toBe('argocd-token (bearer token from MESHDRIFT_ARGOCD_TOKEN; clusters in-cluster)');
    expect(exposure.endpoints['/admission']).toBe('off (MESHDRIFT_ADMISSION)');
    expect(exposure.endpoints['/api/v2']).toBe('as /api/v1 (same token, same silences)');
  });

  it('says the admission listener takes no client credential when it is on, without refusing it', () => {
    const env = loadEnv({
      MESHDRIFT_API_TOKEN: 'api-token-0123456789abcdef',
      MESHDRIFT_ALLOW_UNAUTHENTICATED: 'webhooks',
      MESHDRIFT_ADMISSION: 'true',
      MESHDRIFT_ADMISSION_TLS_CERT: '/tls/tls.crt',
      MESHDRIFT_ADMISSION_TLS_KEY: '/tls/tls.key',
    });
    const exposure = describeExposure(env, loadSenders(env, {}));
    expect(exposure.endpoints['/admission']).toMatch(/^HTTPS on 0\.0\.0\.0:\d+, no client authentication .*told until a watch event confirms them/);
    expect(exposure.refused).toEqual([]);
  });

  it.each<[string, string[]]>([
    ['true', []],
    ['all', []],
    ['webhooks', ['api']],
    ['api,flux', ['argocd']],
    ['argocd', ['flux', 'api']],
    ['none', ['argocd', 'flux', 'api']],
  ])('MESHDRIFT_ALLOW_UNAUTHENTICATED=%s leaves %j refused', (allow, refused) => {
    const env = loadEnv({ MESHDRIFT_ALLOW_UNAUTHENTICATED: allow });
    expect(describeExposure(env, loadSenders(env, {})).refused).toEqual(refused);
  });

  it('nothing is refused when every endpoint is authenticated', () => {
    const raw = {
      MESHDRIFT_ARGOCD_TOKEN: 'legacy-argocd-token-0123456789',
      MESHDRIFT_FLUX_HMAC_KEY: 'legacy-flux-hmac-key-0123456789',
      MESHDRIFT_API_TOKEN: 'api-token-0123456789abcdef',
    };
    const env = loadEnv(raw);
    const exposure = describeExposure(env, loadSenders(env, raw));
    expect(exposure.open).toEqual([]);
    expect(() => assertNothingOpenByAccident(exposure)).not.toThrow();
  });

  it('an unknown word is a configuration error', () => {
    expect(() => loadEnv({ MESHDRIFT_ALLOW_UNAUTHENTICATED: 'yes' })).toThrow(
      /MESHDRIFT_ALLOW_UNAUTHENTICATED: "yes" is not one of api, argocd, flux, webhooks, true, all, false, none/,
    );
  });
});
