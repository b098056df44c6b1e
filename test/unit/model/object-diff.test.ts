import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changeListSchema, MAX_CHANGE_VALUE, MAX_CHANGES } from '../../../src/model/forensics.ts';
import { diffObjects, pathText, pointerSegments } from '../../../src/model/object-diff.ts';
import { MASKED } from '../../../src/model/redact.ts';

const VS = { group: 'networking.istio.io', kind: 'VirtualService' };
const JWT = ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ', 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'].join('.');

function vs(weights: [number, number], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews', namespace: 'bookinfo', resourceVersion: '1', generation: 1, uid: 'u', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      hosts: ['reviews'],
      http: [
        {
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: weights[0] },
            { destination: { host: 'reviews', subset: 'v2' }, weight: weights[1] },
          ],
        },
      ],
      ...extra,
    },
  };
}

describe('diffObjects', () => {
  it('names a weight edit by its path, before and after', () => {
    const out = diffObjects('snapshot', vs([90, 10]), vs([0, 100]), { ref: VS });
    expect(out).toEqual({
      source: 'snapshot',
      changes: [
        { path: 'spec.http[0].route[0].weight', before: '90', after: '0' },
        { path: 'spec.http[0].route[1].weight', before: '10', after: '100' },
      ],
    });
    expect(changeListSchema.parse(out)).toEqual(out);
  });

  it('ignores metadata noise, status, managedFields and last-applied-configuration', () => {
    const live = vs([90, 10]);
    live['status'] = { validationMessages: [] };
    live['metadata'] = {
      ...(live['metadata'] as object),
      resourceVersion: '99',
      generation: 7,
      managedFields: [{ manager: 'kubectl-edit' }],
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    };
    expect(diffObjects('snapshot', vs([90, 10]), live, { ref: VS }).changes).toEqual([{ path: 'metadata.annotations', after: '{}' }]);
  });

  it('renders added and removed fields as JSON, with odd keys quoted', () => {
    const before = vs([90, 10]);
    const after = vs([90, 10], { gateways: ['mesh'] });
    (after['metadata'] as Record<string, unknown>)['labels'] = { 'app.kubernetes.io/name': 'reviews' };
    delete (after['spec'] as Record<string, unknown>)['hosts'];
    expect(diffObjects('snapshot', before, after, { ref: VS }).changes).toEqual([
      { path: 'metadata.labels', after: '{"app.kubernetes.io/name":"reviews"}' },
      { path: 'spec.hosts', before: '["reviews"]' },
      { path: 'spec.gateways', after: '["mesh"]' },
    ]);
  });

  it('matches list elements by name when every element has a unique one, and reports a reorder', () => {
    const route = (name: string, subset: string) => ({ name, route: [{ destination: { host: 'reviews', subset } }] });
    const before = { spec: { http: [route('canary', 'v2'), route('default', 'v1')] } };
    const after = { spec: { http: [route('hotfix', 'v3'), route('canary', 'v2'), route('default', 'v9')] } };
    expect(diffObjects('snapshot', before, after, { ref: VS }).changes).toEqual([
      { path: 'spec.http[0]', after: '{"name":"hotfix","route":[{"destination":{"host":"reviews","subset":"v3"}}]}' },
      { path: 'spec.http[2].route[0].destination.subset', before: '"v1"', after: '"v9"' },
    ]);
    const swapped = { spec: { http: [route('default', 'v1'), route('canary', 'v2')] } };
    expect(diffObjects('snapshot', before, swapped, { ref: VS }).changes).toEqual([
      { path: 'spec.http', before: '["canary","default"]', after: '["default","canary"]' },
    ]);
  });

  it('matches by index when names are missing or repeated', () => {
    const before = { spec: { http: [{ name: 'a', timeout: '1s' }, { timeout: '2s' }] } };
    const after = { spec: { http: [{ timeout: '2s' }] } };
    expect(diffObjects('snapshot', before, after, { ref: VS }).changes).toEqual([
      { path: 'spec.http[0].name', before: '"a"' },
      { path: 'spec.http[0].timeout', before: '"1s"', after: '"2s"' },
      { path: 'spec.http[1]', before: '{"timeout":"2s"}' },
    ]);
  });

  it('honours ignore pointers (escaped, nested, invalid ones skipped)', () => {
    const before = { metadata: { annotations: { 'a/b': '1', c: '1' } }, spec: { http: [{ timeout: '1s', retries: { attempts: 1 } }] } };
    const after = { metadata: { annotations: { 'a/b': '2', c: '2' } }, spec: { http: [{ timeout: '9s', retries: { attempts: 3 } }] } };
    const out = diffObjects('argocd-managed-resources', before, after, {
      ref: VS,
      ignore: ['/metadata/annotations/a~1b', '/spec/http/0/retries', 'not-a-pointer'],
    });
    expect(out.changes).toEqual([
      { path: 'metadata.annotations.c', before: '"1"', after: '"2"' },
      { path: 'spec.http[0].timeout', before: '"1s"', after: '"9s"' },
    ]);
    expect(pointerSegments('/a~1b/~0c')).toEqual(['a/b', '~c']);
  });

  it('shows a masked change as changed, with no value', () => {
    const set = (v: string) => vs([90, 10], { http: [{ headers: { request: { set: { authorization: v, 'x-env': v.length > 3 ? 'b' : 'a' } } } }] });
    const out = diffObjects('snapshot', set('Bearer old-credential-1'), set('Bearer new-credential-2'), { ref: VS });
    expect(out.changes).toEqual([{ path: 'spec.http[0].headers.request.set.authorization', masked: true }]);
    const same = diffObjects('snapshot', set('Bearer same-1'), set('Bearer same-1'), { ref: VS });
    expect(same.changes).toEqual([]);
  });

  it('masks a value by its shape, and an added subtree inside its rendering', () => {
    const before = { metadata: { annotations: { note: 'x' } }, spec: {} };
    const after = { metadata: { annotations: { note: JWT } }, spec: { headers: { request: { set: { 'x-api-key': 'k-123', 'x-env': 'prod' } } } } };
    expect(diffObjects('snapshot', before, after, { ref: VS }).changes).toEqual([
      { path: 'metadata.annotations.note', masked: true },
      { path: 'spec.headers', after: `{"request":{"set":{"x-api-key":"${MASKED}","x-env":"prod"}}}` },
    ]);
  });

  it('treats EnvoyFilter configPatches as one opaque change', () => {
    const ef = (code: string) => ({ spec: { configPatches: [{ applyTo: 'HTTP_FILTER', patch: { value: { inline_code: code } } }, { applyTo: 'CLUSTER' }] } });
    expect(diffObjects('snapshot', ef('a'), ef('b'), { ref: { group: 'networking.istio.io', kind: 'EnvoyFilter' } }).changes).toEqual([
      { path: 'spec.configPatches', masked: true },
    ]);
  });

  it('never diffs Secret data', () => {
    const s = (v: string) => ({ apiVersion: 'v1', kind: 'Secret', data: { k: v }, stringData: { k: v }, type: 'Opaque' });
    expect(diffObjects('admission', s('djE='), s('djI='), { ref: { group: '', kind: 'Secret' } }).changes).toEqual([]);
  });

  it('keeps at most maxChanges changes and counts the rest', () => {
    const obj = (v: number) => ({ spec: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, v])) });
    const out = diffObjects('snapshot', obj(1), obj(2), { ref: VS });
    expect(out.changes).toHaveLength(MAX_CHANGES);
    expect(out.omitted).toBe(10);
    const few = diffObjects('snapshot', obj(1), obj(2), { ref: VS, maxChanges: 3 });
    expect([few.changes.length, few.omitted]).toEqual([3, 27]);
    expect(diffObjects('snapshot', obj(1), obj(2), { ref: VS, maxChanges: 500 }).changes).toHaveLength(MAX_CHANGES);
  });

  it('truncates long values and long paths to the schema bounds', () => {
    const out = diffObjects('snapshot', { spec: { d: 'a'.repeat(5000) } }, { spec: { d: 'b'.repeat(5000) } }, { ref: VS });
    expect(out.changes[0]!.before).toHaveLength(MAX_CHANGE_VALUE);
    expect(out.changes[0]!.before!.endsWith('…')).toBe(true);
    const key = 'k'.repeat(2000);
    const long = diffObjects('snapshot', { spec: { [key]: 1 } }, { spec: { [key]: 2 } }, { ref: VS });
    expect(changeListSchema.parse(long).changes[0]!.path.length).toBeLessThanOrEqual(512);
    expect(pathText(['metadata', 'annotations', 'a.io/b', 3])).toBe('metadata.annotations["a.io/b"][3]');
  });

  it('survives hostile depth and size, counting what it could not see', () => {
    let deep: unknown = 1;
    let deep2: unknown = 2;
    for (let i = 0; i < 5000; i++) (deep = { a: deep }), (deep2 = { a: deep2 });
    const out = diffObjects('admission', { spec: deep }, { spec: deep2 }, { ref: VS });
    expect(out.omitted).toBeGreaterThanOrEqual(1);
    expect(changeListSchema.safeParse(out).success).toBe(true);
    const wide = (v: number) => ({ spec: { items: Array.from({ length: 80_000 }, () => v) } });
    const big = diffObjects('admission', wide(1), wide(2), { ref: VS });
    expect(big.changes).toHaveLength(MAX_CHANGES);
    expect(changeListSchema.safeParse(big).success).toBe(true);
  });

  it('diffs absent objects (created, deleted)', () => {
    expect(diffObjects('admission', undefined, { spec: { hosts: ['a'] } }, { ref: VS }).changes).toEqual([
      { path: '(root)', after: '{"spec":{"hosts":["a"]}}' },
    ]);
  });

  it('diffs the managed-resources fixture (Service, core group) with no noise', () => {
    const items = (JSON.parse(readFileSync('../shared/fixtures/argocd/api-managed-resources-v3.json', 'utf8')) as { items: Record<string, string>[] }).items;
    for (const item of items) {
      const out = diffObjects('argocd-managed-resources', JSON.parse(item['predictedLiveState']!), JSON.parse(item['normalizedLiveState']!), {
        ref: { group: item['group'] ?? '', kind: item['kind']! },
      });
      expect(changeListSchema.safeParse(out).success).toBe(true);
      for (const c of out.changes) expect(c.path).not.toMatch(/managedFields|resourceVersion|status/);
    }
  });
});

const secretArb = fc.stringMatching(/^[a-z]{4}[A-Za-z0-9]{12,24}$/);

/** Planted in the live side of a VirtualService, each in a shape that redaction must catch. */
const plantings: Record<string, (s: string) => Record<string, unknown>> = {
  headerMap: (s) => ({ http: [{ headers: { request: { set: { 'X-Api-Key': s } } } }] }),
  istioMatch: (s) => ({ http: [{ match: [{ headers: { authorization: { exact: s } } }] }] }),
  gatewayPair: (s) => ({ rules: [{ matches: [{ headers: [{ name: 'Authorization', value: `Bearer ${s}` }] }] }] }),
  jwt: (s) => ({ note: `${JWT.slice(0, 24)}${s}.${s}.${s}` }),
  pem: (s) => ({ caCertificates: `-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----` }),
  cookie: (s) => ({ http: [{ match: [{ headers: { cookie: { regex: s } } }] }] }),
};

describe('diffObjects property', () => {
  it('a planted secret never appears in the output, whichever side and shape', () => {
    fc.assert(
      fc.property(secretArb, fc.constantFrom(...Object.keys(plantings)), fc.boolean(), fc.boolean(), (secret, shape, live, alsoOther) => {
        const planted = plantings[shape]!(secret);
        const other = alsoOther ? plantings[shape]!(`${secret}X`) : {};
        const [b, a] = live ? [other, planted] : [planted, other];
        const out = diffObjects('snapshot', vs([90, 10], { extra: b }), vs([50, 50], { extra: a }), { ref: VS });
        const text = JSON.stringify(out);
        expect(text).not.toContain(secret);
        expect(out.changes.length).toBeGreaterThan(2);
      }),
      { numRuns: 400 },
    );
  });
  it('a Secret planted in a Secret or a List never appears', () => {
    fc.assert(
      fc.property(secretArb, (secret) => {
        const s = { apiVersion: 'v1', kind: 'Secret', data: { k: secret }, stringData: { k: secret } };
        const text = JSON.stringify([
          diffObjects('admission', undefined, s, { ref: { group: '', kind: 'Secret' } }),
          diffObjects('admission', { items: [] }, { items: [s] }, { ref: { group: '', kind: 'List' } }),
        ]);
        expect(text).not.toContain(secret);
      }),
      { numRuns: 200 },
    );
  });
});
