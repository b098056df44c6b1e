import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../../../src/classify/catalog.ts';
import { createLogger } from '../../../../src/log.ts';
import type { Signal } from '../../../../src/model/signal.ts';
import {
  ArgoCdApiError,
  listedApplicationSchema,
  managedResourcesQuery,
  parseManagedResources,
  type ApplicationRef,
  type ListedApplication,
  type ManagedResource,
  type ManagedResourceFilter,
} from '../../../../src/sources/argocd/api.ts';
import { applicationToSignal } from '../../../../src/sources/argocd/application.ts';
import { createManagedDiff, ignoredPointers, type DiffFetchOutcome, type ManagedDiffOptions } from '../../../../src/sources/argocd/managed-diff.ts';

const catalog = createCatalog();
const isMeshKind = (g: string, k: string) => catalog.lookup(g, k) !== undefined;
const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
const HEADER_SECRET = 'hdr-s3cr3t-value-planted';
const JWT = ['eyJhbGciOiJSUzI1NiJ9', 'eyJzdWIiOiJwbGFudGVkLXVzZXIifQ', 'c2lnbmF0dXJlLXBsYW50ZWQ'].join('.');

function vs(weight: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'payments', namespace: 'payments', resourceVersion: '7', uid: 'u' },
    spec: {
      hosts: ['payments'],
      http: [
        {
          route: [
            { destination: { host: 'payments', subset: 'v1' }, weight },
            { destination: { host: 'payments', subset: 'v2' }, weight: 100 - weight },
          ],
        },
      ],
      ...extra,
    },
  };
}

function item(predicted: unknown, normalized: unknown, resourceVersion = '7', ref: Partial<ManagedResource> = VS): ManagedResource {
  return {
    ...ref,
    kind: ref.kind ?? 'VirtualService',
    name: ref.name ?? 'payments',
    predictedLiveState: JSON.stringify(predicted),
    normalizedLiveState: JSON.stringify(normalized),
    resourceVersion,
  };
}

function app(over: { revision?: string; reconciledAt?: string | undefined; resources?: unknown[]; ignoreDifferences?: unknown[] } = {}): ListedApplication {
  return listedApplicationSchema.parse({
    metadata: { name: 'payments-mesh', namespace: 'argocd' },
    spec: { project: 'mesh-prod', ...(over.ignoreDifferences ? { ignoreDifferences: over.ignoreDifferences } : {}) },
    status: {
      sync: { status: 'OutOfSync', revision: over.revision ?? 'abc123' },
      ...('reconciledAt' in over ? (over.reconciledAt === undefined ? {} : { reconciledAt: over.reconciledAt }) : { reconciledAt: '2026-12-04T10:00:00Z' }),
      resources: over.resources ?? [
        { ...VS, version: 'v1', status: 'OutOfSync' },
        { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'payments', name: 'payments', status: 'OutOfSync' },
        {
          group: 'networking.istio.io',
          version: 'v1',
          kind: 'ServiceEntry',
          namespace: 'payments',
          name: 'legacy',
          status: 'OutOfSync',
          requiresPruning: true,
        },
        { group: 'networking.istio.io', version: 'v1', kind: 'DestinationRule', namespace: 'payments', name: 'payments', status: 'Synced' },
      ],
    },
  });
}

const signalOf = (a: ListedApplication): Signal => applicationToSignal(a, { cluster: 'c', source: 'argocd-api', now: 1 });

/** A managed-resources API that answers from `answers` (by kind/name) and records each call. */
function fakeApi(answers: Map<string, ManagedResource[] | Error>) {
  const calls: { ref: ApplicationRef; filter: ManagedResourceFilter | undefined; limits: unknown }[] = [];
  return {
    calls,
    api: {
      async managedResources(ref: ApplicationRef, filter?: ManagedResourceFilter, limits?: unknown) {
        calls.push({ ref, filter, limits });
        const a = answers.get(`${filter?.kind}/${filter?.name}`) ?? [];
        if (a instanceof Error) throw a;
        return a;
      },
    },
  };
}

function setup(answers: Map<string, ManagedResource[] | Error>, extra: Partial<ManagedDiffOptions> = {}) {
  const outcomes: DiffFetchOutcome[] = [];
  let logs = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  const { api, calls } = fakeApi(answers);
  const diff = createManagedDiff({ api, isMeshKind, maxFetchesPerPoll: 10, log: createLogger('debug', sink), onOutcome: (o) => outcomes.push(o), ...extra });
  return { diff, calls, outcomes, logs: () => logs };
}

const vsOf = (s: Signal) => s.resources.find((r) => r.kind === 'VirtualService');

describe('managed-resources diff', () => {
  it('a weight edit on an OutOfSync VirtualService: predicted (Git) before, normalized live after', async () => {
    const { diff, calls, outcomes } = setup(new Map([['VirtualService/payments', [item(vs(90), vs(0))]]]));
    const a = app();
    const out = await diff.withChanges(a, signalOf(a), diff.budget());
    expect(vsOf(out)?.changes).toEqual({
      source: 'argocd-managed-resources',
      changes: [
        { path: 'spec.http[0].route[0].weight', before: '90', after: '0' },
        { path: 'spec.http[0].route[1].weight', before: '10', after: '100' },
      ],
    });
    // Only the Modified mesh resource is read: not the Deployment, not the ServiceEntry to prune, not the Synced DestinationRule.
    expect(calls).toEqual([
      {
        ref: { name: 'payments-mesh', namespace: 'argocd', project: 'mesh-prod' },
        filter: { group: VS.group, kind: VS.kind, namespace: VS.namespace, name: VS.name },
        limits: { timeoutMs: 10_000 },
      },
    ]);
    expect(outcomes).toEqual(['fetched']);
    expect(out.resources.filter((r) => r.changes !== undefined)).toHaveLength(1);
  });

  it('caches per app, resource, revision and reconcile; re-reads after Argo CD reconciles or the revision moves', async () => {
    const answers = new Map([['VirtualService/payments', [item(vs(90), vs(0))]]]);
    const { diff, calls, outcomes } = setup(answers);
    const a = app();
    await diff.withChanges(a, signalOf(a), diff.budget());
    const again = await diff.withChanges(a, signalOf(a), diff.budget());
    expect(calls).toHaveLength(1);
    expect(vsOf(again)?.changes?.changes[0]?.after).toBe('0');
    // Argo CD reconciled; the live object moved on (new resourceVersion): read and diff again.
    answers.set('VirtualService/payments', [item(vs(90), vs(30), '8')]);
    const b = app({ reconciledAt: '2026-12-04T10:03:00Z' });
    expect(vsOf(await diff.withChanges(b, signalOf(b), diff.budget()))?.changes?.changes[0]?.after).toBe('30');
    const c = app({ revision: 'def456', reconciledAt: '2026-12-04T10:03:00Z' });
    await diff.withChanges(c, signalOf(c), diff.budget());
    expect(calls).toHaveLength(3);
    expect(outcomes).toEqual(['fetched', 'cached', 'fetched', 'fetched']);
  });

  it('without reconciledAt, an entry holds for maxAgeMs', async () => {
    let now = 0;
    const { diff, calls } = setup(new Map([['VirtualService/payments', [item(vs(90), vs(0))]]]), { now: () => now, maxAgeMs: 60_000 });
    const a = app({ reconciledAt: undefined });
    await diff.withChanges(a, signalOf(a), diff.budget());
    now = 59_000;
    await diff.withChanges(a, signalOf(a), diff.budget());
    expect(calls).toHaveLength(1);
    now = 61_000;
    await diff.withChanges(a, signalOf(a), diff.budget());
    expect(calls).toHaveLength(2);
  });

  it('at most maxFetchesPerPoll reads per poll; the rest wait', async () => {
    const resources = ['a', 'b', 'c'].map((name) => ({ ...VS, name, version: 'v1', status: 'OutOfSync' }));
    const answers = new Map(['a', 'b', 'c'].map((name) => [`VirtualService/${name}`, [item(vs(90), vs(0), '7', { ...VS, name })]]));
    const { diff, calls, outcomes } = setup(answers, { maxFetchesPerPoll: 2 });
    const a = app({ resources });
    const budget = diff.budget();
    const out = await diff.withChanges(a, signalOf(a), budget);
    expect(calls.map((c) => c.filter?.name)).toEqual(['a', 'b']);
    expect(out.resources.map((r) => r.changes !== undefined)).toEqual([true, true, false]);
    expect(outcomes).toEqual(['fetched', 'fetched', 'budget']);
    // The next poll reads the one left, the others come from the cache.
    await diff.withChanges(a, signalOf(a), diff.budget());
    expect(calls.map((c) => c.filter?.name)).toEqual(['a', 'b', 'c']);
  });

  it('0 turns it off', async () => {
    const { diff, calls } = setup(new Map(), { maxFetchesPerPoll: 0 });
    const a = app();
    const s = signalOf(a);
    expect(await diff.withChanges(a, s, diff.budget())).toBe(s);
    expect(calls).toHaveLength(0);
  });

  it('a failed read leaves the resource without changes, counted and logged at debug, and is retried next poll', async () => {
    const answers = new Map<string, ManagedResource[] | Error>([
      ['VirtualService/payments', new ArgoCdApiError('timeout', 'argocd managed resources of argocd/payments-mesh: request timed out (after 10000ms)')],
    ]);
    const { diff, calls, outcomes, logs } = setup(answers);
    const a = app();
    const s = signalOf(a);
    expect(await diff.withChanges(a, s, diff.budget())).toBe(s);
    expect(outcomes).toEqual(['failed']);
    expect(logs()).toContain('request timed out');
    expect(logs()).toContain('"level":20');
    answers.set('VirtualService/payments', [item(vs(90), vs(0))]);
    expect(vsOf(await diff.withChanges(a, s, diff.budget()))?.changes).toBeDefined();
    expect(calls).toHaveLength(2);
  });

  it('a resource missing from the answer, or with a state that is not an object, gets no changes', async () => {
    const broken = { ...item(vs(90), vs(0)), predictedLiveState: 'null' };
    const { diff, outcomes } = setup(new Map([['VirtualService/payments', [broken]]]));
    const a = app();
    expect(vsOf(await diff.withChanges(a, signalOf(a), diff.budget()))?.changes).toBeUndefined();
    const other = setup(new Map([['VirtualService/payments', [item(vs(90), vs(0), '7', { ...VS, group: 'other.io' })]]]));
    expect(vsOf(await other.diff.withChanges(a, signalOf(a), other.diff.budget()))?.changes).toBeUndefined();
    expect([...outcomes, ...other.outcomes]).toEqual(['absent', 'absent']);
  });

  it("honours the app's ignoreDifferences JSON pointers for this resource", async () => {
    const ignoreDifferences = [
      { group: 'networking.istio.io', kind: 'VirtualService', jsonPointers: ['/spec/http/0/route/1/weight'] },
      { group: 'networking.istio.io', kind: 'VirtualService', name: 'other', jsonPointers: ['/spec/http/0/route/0/weight'] },
    ];
    const { diff } = setup(new Map([['VirtualService/payments', [item(vs(90), vs(0))]]]));
    const a = app({ ignoreDifferences });
    expect(vsOf(await diff.withChanges(a, signalOf(a), diff.budget()))?.changes?.changes).toEqual([
      { path: 'spec.http[0].route[0].weight', before: '90', after: '0' },
    ]);
    expect(ignoredPointers(a.spec?.ignoreDifferences, VS)).toEqual(['/spec/http/0/route/1/weight']);
    // A malformed list only loses meshdrift's own filter (no rules), never the app; a malformed rule only itself.
    expect(listedApplicationSchema.parse({ metadata: { name: 'x' }, spec: { ignoreDifferences: 'nope' } }).spec?.ignoreDifferences).toEqual([]);
    const mixed = listedApplicationSchema.parse({ metadata: { name: 'x' }, spec: { ignoreDifferences: [{ jsonPointers: ['/a'] }, ignoreDifferences[0]] } });
    expect(ignoredPointers(mixed.spec?.ignoreDifferences, VS)).toEqual(['/spec/http/0/route/1/weight']);
  });

  it('a header value and a JWT planted in the live object never appear; the header shows as a masked change', async () => {
    const live = vs(0, { http: [{ headers: { request: { set: { authorization: `Bearer ${JWT}`, 'x-api-key': HEADER_SECRET } } } }] });
    live['metadata'] = { ...(live['metadata'] as object), annotations: { note: JWT } };
    const { diff, logs } = setup(
      new Map([['VirtualService/payments', [item(vs(90, { http: [{ headers: { request: { set: { authorization: 'Bearer old-9f8e7d6c' } } } }] }), live)]]]),
    );
    const a = app();
    const out = await diff.withChanges(a, signalOf(a), diff.budget());
    const text = JSON.stringify(out) + logs();
    expect(text).not.toContain(HEADER_SECRET);
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('old-9f8e7d6c');
    expect(vsOf(out)?.changes?.changes).toContainEqual({ path: 'spec.http[0].headers.request.set.authorization', masked: true });
  });
});

describe('managed-resources API', () => {
  it('narrows by the resource and the app (ResourcesQuery)', () => {
    expect(managedResourcesQuery({ name: 'a', namespace: 'team', project: 'p' }, { group: '', kind: 'Service', namespace: 'ns', name: 'svc' }).toString()).toBe(
      'appNamespace=team&project=p&kind=Service&namespace=ns&name=svc',
    );
  });
  it('reads the recorded answer and refuses a wrong shape, naming the field', async () => {
    const { readFileSync } = await import('node:fs');
    const items = parseManagedResources(readFileSync('../shared/fixtures/argocd/api-managed-resources-v3.json', 'utf8'), 'hitchhiker-babel-fish');
    expect(items.map((i) => `${i.group ?? ''}/${i.kind}`)).toEqual(['/Service', 'apps/Deployment']);
    expect(parseManagedResources('{"items":null}', 'x')).toEqual([]);
    expect(() => parseManagedResources('{"items":[{"kind":"VirtualService","name":"a","predictedLiveState":{}}]}', 'x')).toThrow(
      /items\[0\]\.predictedLiveState/,
    );
  });
});
