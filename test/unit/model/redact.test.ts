import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSecretValue, isSensitiveKey, MASKED, MAX_REDACT_DEPTH, redactObject, redactText, TRUNCATED } from '../../../src/model/redact.ts';

const VS = { group: 'networking.istio.io', kind: 'VirtualService' };
const SECRET = { group: '', kind: 'Secret' };
// Planted values: each must never appear in any output. Built at run time so no scanner flags this file.
const JWT = ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ', 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'].join('.');
const PEM = ['-----BEGIN', 'PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END', 'PRIVATE KEY-----'].join(' ');
const HEADER_VALUE = 'hunter2-plain-header-value';

describe('isSensitiveKey', () => {
  it.each([
    'authorization',
    'Authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'x-auth-token',
    'token',
    'accessToken',
    'password',
    'passwd',
    'db_password',
    'secret',
    'client-secret',
    'clientSecret',
    'apikey',
    'api-key',
    'api_key',
    'x-api-key',
    'X-API-KEY',
    'privateKey',
    'private_key',
    'credentials',
    'x-amz-security-token',
  ])('%s names a credential', (key) => expect(isSensitiveKey(key)).toBe(true));
  it.each([
    'credentialName',
    'secretName',
    'tokenSecretRef',
    'passwordRef',
    'host',
    'weight',
    'end-user',
    'httpCookie',
    'forwardOriginalToken',
    'name',
    'authority',
    ':authority',
  ])('%s does not', (key) => expect(isSensitiveKey(key)).toBe(false));
});

describe('isSecretValue', () => {
  it.each([
    ['a JWT', JWT],
    ['a JWT inside text', `jwt=${JWT};`],
    ['a Bearer value', 'Bearer abc.def'],
    ['a Basic value', 'Basic dXNlcjpwYXNz'],
    ['a bearer credential inside text', 'sent Authorization: Bearer 9f8a7b6c5d'],
    ['a PEM block', PEM],
    ['a URL with a password', 'https://user:s3cr3t@git.example.com/repo.git'],
    ['a secret query parameter', 'https://hooks.example.com/x?token=abc'],
    ['a long high-entropy token', 'AKIAXK2Tq9vLr8ZpW3mYb7Nc4Hd6Jf1Gs5Ue0RiO'],
  ])('%s is masked', (_name, value) => expect(isSecretValue(value)).toBe(true));
  it.each([
    'reviews.default.svc.cluster.local',
    'payments-v2-7f8d9c6b5-x2l4p',
    'Basic authentication required',
    'the token expired',
    'sha256:9b2a1f3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a',
    '3f2a9c1e-8b7d-4c6e-9f0a-1b2c3d4e5f6a',
    'docker.io/istio/proxyv2:1.22.1',
    '^(.*?;)?(user=jason)(;.*)?$',
    'ISTIO_MUTUAL',
    'an ordinary description of a VirtualService for the reviews service in production',
  ])('%s is kept', (value) => expect(isSecretValue(value)).toBe(false));
});

describe('redactText', () => {
  it('masks the credential and keeps the rest of the text', () => {
    const text = `GET https://user:pw123@h.example.com/a?api_key=abc&x=1 failed with Bearer 9f8a7b6c5d4e, token ${JWT}\n${PEM} end`;
    const out = redactText(text);
    expect(out).toBe(`GET https://user:${MASKED}@h.example.com/a?api_key=${MASKED}&x=1 failed with Bearer ${MASKED}, token ${MASKED}\n${MASKED} end`);
  });
  it('keeps prose', () => expect(redactText('Basic authentication is off; the token expired')).toBe('Basic authentication is off; the token expired'));
});

describe('redactObject', () => {
  it('drops Secret data, managedFields and last-applied-configuration', () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 's',
        managedFields: [{ manager: 'kubectl-edit' }],
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"k":"djE="}}', team: 'a' },
      },
      data: { k: 'djE=' },
      stringData: { k: 'v1' },
      type: 'Opaque',
    };
    expect(redactObject(secret, SECRET)).toEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', annotations: { team: 'a' } }, type: 'Opaque' });
    expect(secret.data).toEqual({ k: 'djE=' }); // the input is not changed
  });
  it('drops the data of a Secret nested in a List', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Secret', data: { k: 'djE=' } }] };
    expect(redactObject(list, { group: '', kind: 'List' })).toEqual({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Secret' }] });
  });
  it('keeps the data of a ConfigMap but masks credential keys in it', () => {
    expect(redactObject({ data: { mode: 'fast', password: 'pw' } }, { group: '', kind: 'ConfigMap' })).toEqual({ data: { mode: 'fast', password: MASKED } });
  });
  it('masks Istio header matchers and header maps by their name', () => {
    const vs = {
      spec: {
        http: [
          {
            match: [{ headers: { authorization: { exact: HEADER_VALUE }, 'end-user': { exact: 'jason' } } }],
            headers: { request: { set: { 'x-api-key': HEADER_VALUE, 'x-trace': 'on' } } },
            route: [{ destination: { host: 'reviews', subset: 'v2' }, weight: 100 }],
          },
        ],
      },
    };
    expect(redactObject(vs, VS)).toEqual({
      spec: {
        http: [
          {
            match: [{ headers: { authorization: MASKED, 'end-user': { exact: 'jason' } } }],
            headers: { request: { set: { 'x-api-key': MASKED, 'x-trace': 'on' } } },
            route: [{ destination: { host: 'reviews', subset: 'v2' }, weight: 100 }],
          },
        ],
      },
    });
  });
  it('masks the value beside a name that is a credential (Gateway API headers, env, AuthorizationPolicy when)', () => {
    const route = {
      matches: [
        {
          headers: [
            { type: 'Exact', name: 'Authorization', value: HEADER_VALUE },
            { name: 'x-env', value: 'canary' },
          ],
        },
      ],
      filters: [{ requestHeaderModifier: { set: [{ name: 'X-Api-Key', value: HEADER_VALUE }] } }],
      when: [{ key: 'request.headers[authorization]', values: [HEADER_VALUE] }],
    };
    expect(redactObject(route, { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' })).toEqual({
      matches: [
        {
          headers: [
            { type: 'Exact', name: 'Authorization', value: MASKED },
            { name: 'x-env', value: 'canary' },
          ],
        },
      ],
      filters: [{ requestHeaderModifier: { set: [{ name: 'X-Api-Key', value: MASKED }] } }],
      when: [{ key: 'request.headers[authorization]', values: MASKED }],
    });
  });
  it('keeps booleans under credential-looking keys and references to Secrets', () => {
    const ra = { spec: { jwtRules: [{ issuer: 'https://issuer.example.com', forwardOriginalToken: true }] }, tls: { credentialName: 'gw-cert' } };
    expect(redactObject(ra, { group: 'security.istio.io', kind: 'RequestAuthentication' })).toEqual(ra);
  });
  it('masks values by shape anywhere', () => {
    expect(redactObject({ metadata: { annotations: { note: JWT } }, spec: { x: [PEM, 'ok'] } }, VS)).toEqual({
      metadata: { annotations: { note: MASKED } },
      spec: { x: [MASKED, 'ok'] },
    });
  });
  it('treats EnvoyFilter configPatches as opaque', () => {
    const ef = { spec: { workloadSelector: { labels: { app: 'a' } }, configPatches: [{ applyTo: 'HTTP_FILTER', patch: { value: { inline_code: 'x' } } }] } };
    expect(redactObject(ef, { group: 'networking.istio.io', kind: 'EnvoyFilter' })).toEqual({
      spec: { workloadSelector: { labels: { app: 'a' } }, configPatches: MASKED },
    });
  });
  it('cuts hostile depth and keeps __proto__ a plain key', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    const text = JSON.stringify(redactObject(deep, VS));
    expect(text).toContain(TRUNCATED);
    expect(text.split('{"a":').length - 1).toBe(MAX_REDACT_DEPTH);
    const out = redactObject(JSON.parse('{"__proto__":{"polluted":true}}'), VS) as Record<string, unknown>;
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
  it('cuts hostile size', () => {
    const wide = { items: Array.from({ length: 60_000 }, (_, i) => ({ i })) };
    const out = redactObject(wide, VS) as { items: unknown[] };
    expect(out.items.filter((x) => x === TRUNCATED).length).toBeGreaterThan(0);
  });
});

/** A random mesh-like object with a planted secret somewhere, in one of the shapes redaction must catch. */
const plantedArb = fc
  .record({
    path: fc.array(fc.constantFrom('spec', 'http', 'match', 'headers', 'request', 'set', 'x', 'metadata', 'annotations'), { minLength: 0, maxLength: 5 }),
    index: fc.nat(3),
    shape: fc.constantFrom('header', 'pair', 'jwt', 'pem', 'bearer', 'istioHeader', 'cookie'),
    secret: fc.stringMatching(/^[a-z]{4}[A-Za-z0-9]{12,24}$/),
    noise: fc.dictionary(fc.constantFrom('name', 'host', 'weight', 'subset'), fc.oneof(fc.string({ maxLength: 12 }), fc.integer())),
  })
  .map(({ path, index, shape, secret, noise }) => {
    const planted: Record<string, () => unknown> = {
      header: () => ({ ...noise, 'X-Api-Key': secret }),
      pair: () => [{ name: 'authorization', value: secret, type: 'Exact' }, noise],
      jwt: () => ({ ...noise, note: `${JWT.slice(0, 20)}${secret}.${secret}.${secret}` }),
      pem: () => ({ ...noise, ca: `-----BEGIN CERTIFICATE-----\n${secret}\n-----END CERTIFICATE-----` }),
      bearer: () => ({ ...noise, value: `Bearer ${secret}` }),
      istioHeader: () => ({ headers: { Authorization: { exact: secret } } }),
      cookie: () => ({ ...noise, cookie: { regex: secret } }),
    };
    let obj: unknown = planted[shape]!();
    for (const key of [...path].reverse())
      obj = key === 'http' || key === 'match' ? Array.from({ length: index + 1 }, (_, i) => (i === index ? obj : noise)) : { [key]: obj };
    return { obj, secret };
  });

describe('redactObject property', () => {
  it('a planted secret never appears in the output', () => {
    fc.assert(
      fc.property(plantedArb, ({ obj, secret }) => {
        expect(JSON.stringify(redactObject(obj, VS))).not.toContain(secret);
      }),
      { numRuns: 500 },
    );
  });
  it('Secret data never appears, whatever the keys', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.stringMatching(/^[A-Za-z0-9]{10,20}$/), { minKeys: 1 }), (data) => {
        const text = JSON.stringify(redactObject({ apiVersion: 'v1', kind: 'Secret', data, stringData: data }, SECRET));
        for (const v of Object.values(data)) expect(text).not.toContain(v);
      }),
      { numRuns: 200 },
    );
  });
});
