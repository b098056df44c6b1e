import { describe, expect, it } from 'vitest';
import {
  apiErrorOf,
  applicationListQuery,
  ArgoCdApiError,
  ArgoCdAuthError,
  grpcMessage,
  parseApplicationList,
  parseResourceTree,
  resourceTreeQuery,
} from '../../../../src/sources/argocd/api.ts';
import { applicationToSignal } from '../../../../src/sources/argocd/application.ts';
import { readFixture } from '../../../support/fixtures.ts';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.argocd-api-SECRET';
const fixture = (file: string) => readFixture(`argocd/${file}`) as Record<string, unknown>;
const listOf = (...items: unknown[]) => JSON.stringify({ metadata: { resourceVersion: '123' }, items });
const caught = (fn: () => unknown): ArgoCdApiError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ArgoCdApiError) return err;
    throw err;
  }
  throw new Error('did not throw');
};

describe('list query (ApplicationQuery as grpc-gateway reads it)', () => {
  it.each([
    [{}, ''],
    [{ projects: ['mesh-prod', 'hitchhiker'] }, 'projects=mesh-prod&projects=hitchhiker'],
    [{ projects: [''] }, ''],
    [{ selector: ' team=payments,tier in (mesh,edge) ' }, 'selector=team%3Dpayments%2Ctier+in+%28mesh%2Cedge%29'],
    [{ selector: '  ' }, ''],
    [{ appNamespace: 'team-payments' }, 'appNamespace=team-payments'],
    [{ fields: ['items.metadata.name', 'items.status.sync.status'] }, 'fields=items.metadata.name%2Citems.status.sync.status'],
    [{ projects: ['a'], selector: 'x', appNamespace: 'n' }, 'projects=a&selector=x&appNamespace=n'],
  ])('%j → %s', (filters, want) => {
    expect(applicationListQuery(filters).toString()).toBe(want);
  });

  it('repeats projects rather than using the projects[] form axios would send', () => {
    expect(applicationListQuery({ projects: ['a', 'b'] }).getAll('projects')).toEqual(['a', 'b']);
  });

  it.each([
    [{ name: 'x' }, ''],
    [{ name: 'x', namespace: 'argocd', project: 'mesh-prod' }, 'appNamespace=argocd&project=mesh-prod'],
    [{ name: 'x', namespace: '', project: '' }, ''],
  ])('resource tree query %j → %s', (ref, want) => {
    expect(resourceTreeQuery(ref).toString()).toBe(want);
  });
});

describe('parseApplicationList', () => {
  it('reads real list items (3.x recordings, a 2.x dump, the synthetic mesh app), dropping unknown fields', () => {
    const files = [
      'app-outofsync-requirespruning-v3.json',
      'app-synced-progressing-v3.json',
      'app-outofsync-syncfailed-missing-v2.json',
      'synthetic-app-outofsync-istio-gatewayapi-v3.json',
    ];
    const list = parseApplicationList(listOf(...files.map(fixture)));
    expect(list.skipped).toEqual([]);
    expect(list.resourceVersion).toBe('123');
    expect(list.items.map((a) => a.metadata.name)).toEqual(['megadodo-zarniwoop', 'hitchhiker-ford-prefect-broken', 'jen', 'payments-mesh']);
    const mesh = list.items[3];
    expect(mesh?.status?.resourceHealthSource).toBe('appTree');
    expect(mesh?.status?.reconciledAt).toBe('2026-11-24T10:03:11Z');
    expect(mesh).not.toHaveProperty('status.history');
    expect(mesh).not.toHaveProperty('metadata.annotations');
    // The source's repository comes through for commit links (issue #16); nothing else of the source.
    expect(list.items[0]?.spec?.source).toEqual({ repoURL: 'https://github.com/argoproj/argocd-example-apps' });
    expect(applicationToSignal(list.items[0] as NonNullable<(typeof list.items)[0]>, { cluster: 'c', source: 'argocd-api', now: 0 }).repoURL).toBe(
      'https://github.com/argoproj/argocd-example-apps',
    );
  });

  it.each([
    ['{"metadata":{},"items":null}', 0],
    ['{"metadata":{}}', 0],
    ['{"items":[]}', 0],
  ])('an empty list %s', (text, n) => {
    expect(parseApplicationList(text).items).toHaveLength(n);
  });

  it('skips an item of the wrong shape, naming it and the field, and keeps the others', () => {
    const bad = { metadata: { name: 'broken', namespace: 'argocd' }, status: { resources: [{ kind: 'Service' }] } };
    const list = parseApplicationList(listOf(fixture('synthetic-app-outofsync-istio-gatewayapi-v3.json'), bad));
    expect(list.items.map((a) => a.metadata.name)).toEqual(['payments-mesh']);
    expect(list.skipped).toEqual([{ name: 'broken', namespace: 'argocd', error: expect.stringContaining('items[1].status.resources[0].name') }]);
  });

  it.each([
    ['<html>login</html>', /not JSON.*ARGOCD_URL/],
    ['{"items": {"a": 1}}', /items: /],
    ['[1,2]', /\(answer\)/],
  ])('a bad answer is a clear error: %s', (text, want) => {
    const err = caught(() => parseApplicationList(text));
    expect(err.kind).toBe('invalid-answer');
    expect(err.message).toMatch(want);
  });
});

describe('parseResourceTree', () => {
  it('reads nodes with health, parents and never-created nodes', () => {
    const tree = parseResourceTree(
      JSON.stringify({
        nodes: [
          {
            group: 'networking.istio.io',
            version: 'v1',
            kind: 'DestinationRule',
            namespace: 'payments',
            name: 'payments',
            uid: 'u1',
            resourceVersion: '7',
            createdAt: '2026-11-20T08:12:40Z',
            health: { status: 'Degraded', message: 'no subsets' },
            info: [{ name: 'x', value: 'y' }],
          },
          {
            group: 'apps',
            kind: 'ReplicaSet',
            namespace: 'payments',
            name: 'rs',
            parentRefs: [{ group: 'apps', kind: 'Deployment', name: 'd', namespace: 'payments' }],
          },
          { version: 'v1', kind: 'Service', namespace: 'payments', name: 'gone' },
        ],
        hosts: [{ name: 'node-1' }],
      }),
      'payments-mesh',
    );
    expect(tree.nodes).toHaveLength(3);
    expect(tree.nodes?.[0]).toEqual({
      group: 'networking.istio.io',
      version: 'v1',
      kind: 'DestinationRule',
      namespace: 'payments',
      name: 'payments',
      uid: 'u1',
      resourceVersion: '7',
      createdAt: '2026-11-20T08:12:40Z',
      health: { status: 'Degraded', message: 'no subsets' },
    });
  });

  it('an empty tree has no nodes', () => {
    expect(parseResourceTree('{}', 'a').nodes ?? []).toEqual([]);
  });

  it('a node of the wrong shape fails the tree, naming the app and field', () => {
    const err = caught(() =>
      parseResourceTree('{"nodes":[{"kind":"Service","name":"a"},{"kind":"Service","name":"b","health":{"status":3}}]}', 'payments-mesh'),
    );
    expect(err.kind).toBe('invalid-answer');
    expect(err.message).toContain('resource tree of payments-mesh');
    expect(err.message).toContain('nodes[1].health.status');
  });
});

describe('apiErrorOf (grpc-gateway error bodies)', () => {
  const body = (code: number, message: string) => JSON.stringify({ error: message, code, message });

  it('401: a typed auth error that says what to do, with what Argo CD said', () => {
    const err = apiErrorOf(401, body(16, 'invalid session: token has invalid claims: token is expired'), 'list of applications', TOKEN);
    expect(err).toBeInstanceOf(ArgoCdAuthError);
    expect(err.kind).toBe('unauthorized');
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('HTTP 401: invalid session: token has invalid claims: token is expired');
    expect(err.message).toMatch(/generate-token.*ARGOCD_TOKEN/);
  });

  it('403: names the RBAC the account needs', () => {
    const err = apiErrorOf(403, body(7, 'permission denied'), 'resource tree of argocd/x', TOKEN);
    expect(err).toBeInstanceOf(ArgoCdAuthError);
    expect(err.kind).toBe('forbidden');
    expect(err.message).toMatch(/applications, get/);
  });

  it.each([
    [404, 'not-found', /check ARGOCD_URL/],
    [500, 'unavailable', /HTTP 500: error parsing the selector/],
    [503, 'unavailable', /HTTP 503/],
    [429, 'unavailable', /HTTP 429/],
    [302, 'rejected', /redirect not followed/],
    [400, 'rejected', /HTTP 400/],
  ])('HTTP %i → %s', (status, kind, want) => {
    const err = apiErrorOf(status, body(2, 'error parsing the selector: unable to parse requirement'), 'list of applications', TOKEN);
    expect(err.kind).toBe(kind);
    expect(err).not.toBeInstanceOf(ArgoCdAuthError);
    expect(err.message).toMatch(want);
    expect(err.retryable).toBe(kind === 'unavailable');
  });

  it('never repeats the token, even when the server echoes it', () => {
    const err = apiErrorOf(401, body(16, `invalid session: ${TOKEN}`), 'list of applications', TOKEN);
    expect(err.message).not.toContain(TOKEN);
    expect(err.message).toContain('[redacted]');
  });

  it.each([
    ['{"error":"e","code":2,"message":"m"}', 'm'],
    ['{"error":"e"}', 'e'],
    ['not json', ''],
    ['{"message":5}', ''],
  ])('grpcMessage(%s) = %j', (text, want) => {
    expect(grpcMessage(text)).toBe(want);
  });
});
