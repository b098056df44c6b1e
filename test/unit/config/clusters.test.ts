import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../../src/config/env.ts';
import { kubeConfigFor, parseClusters, parseKubeSourcesConfig, parseWatchKinds, parseWatchNamespaces } from '../../../src/config/clusters.ts';

describe('MESHDRIFT_CLUSTERS', () => {
  it.each([
    [undefined, []],
    ['  ', []],
    ['prod=in-cluster', [{ name: 'prod', access: { kind: 'in-cluster' } }]],
    ['east=/etc/kube/east.yaml', [{ name: 'east', access: { kind: 'kubeconfig', path: '/etc/kube/east.yaml' } }]],
    ['west=/etc/kube/all.yaml#west-admin', [{ name: 'west', access: { kind: 'kubeconfig', path: '/etc/kube/all.yaml', context: 'west-admin' } }]],
    [
      'a=in-cluster, b=/k#c#d',
      [
        { name: 'a', access: { kind: 'in-cluster' } },
        { name: 'b', access: { kind: 'kubeconfig', path: '/k#c', context: 'd' } },
      ],
    ],
  ])('parses %j', (text, clusters) => {
    expect(parseClusters(text)).toEqual({ ok: true, value: clusters });
  });

  it.each([
    ['prod', /entry 1 "prod": expected name=in-cluster/],
    ['=in-cluster', /cluster name "" must be/],
    ['prod=in-cluster,,east=in-cluster', /entry 2 "": empty entry/],
    ['prod=in-cluster,prod=/k', /"prod" is listed twice/],
    ['prod=', /missing kubeconfig path after "prod="/],
    ['prod=kube.yaml', /path "kube.yaml" must be absolute/],
    ['prod=/k#', /empty context after '#'/],
    ['bad name=in-cluster', /cluster name "bad name"/],
  ])('rejects %j, naming the entry', (text, message) => {
    const result = parseClusters(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toMatch(message);
  });
});

describe('MESHDRIFT_WATCH and MESHDRIFT_WATCH_NAMESPACES', () => {
  it('defaults to all four kinds and all namespaces', () => {
    expect(parseWatchKinds(undefined)).toEqual({ ok: true, value: ['applications', 'kustomizations', 'helmreleases', 'events'] });
    expect(parseWatchNamespaces('')).toEqual({ ok: true, value: 'all' });
  });
  it('parses lists', () => {
    expect(parseWatchKinds('Applications, events,events')).toEqual({ ok: true, value: ['applications', 'events'] });
    expect(parseWatchNamespaces('argocd, flux-system')).toEqual({ ok: true, value: ['argocd', 'flux-system'] });
  });
  it('names unknown kinds and bad namespaces', () => {
    expect(parseWatchKinds('applications,pods')).toEqual({
      ok: false,
      errors: ['MESHDRIFT_WATCH: unknown kind "pods" (known: applications, kustomizations, helmreleases, events)'],
    });
    expect(parseWatchNamespaces('Argo_CD')).toMatchObject({ ok: false, errors: [expect.stringContaining('"Argo_CD" is not a namespace name')] });
  });
  it('reports the errors of every variable at once', () => {
    const result = parseKubeSourcesConfig({ MESHDRIFT_CLUSTERS: 'x', MESHDRIFT_WATCH: 'nope', MESHDRIFT_WATCH_NAMESPACES: 'ok' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toHaveLength(2);
    expect(parseKubeSourcesConfig({ MESHDRIFT_CLUSTERS: 'a=in-cluster' })).toEqual({
      ok: true,
      value: {
        clusters: [{ name: 'a', access: { kind: 'in-cluster' } }],
        kinds: ['applications', 'kustomizations', 'helmreleases', 'events'],
        namespaces: 'all',
      },
    });
  });
});

describe('loadEnv parses the three variables once (Env.kubeSources)', () => {
  it('carries the parsed clusters, kinds and namespaces', () => {
    expect(
      loadEnv({ MESHDRIFT_CLUSTERS: 'a=in-cluster, b=/etc/kube/b#ctx', MESHDRIFT_WATCH: 'events', MESHDRIFT_WATCH_NAMESPACES: 'argocd' }).kubeSources,
    ).toEqual({
      clusters: [
        { name: 'a', access: { kind: 'in-cluster' } },
        { name: 'b', access: { kind: 'kubeconfig', path: '/etc/kube/b', context: 'ctx' } },
      ],
      kinds: ['events'],
      namespaces: ['argocd'],
    });
    expect(loadEnv({}).kubeSources).toEqual({ clusters: [], kinds: ['applications', 'kustomizations', 'helmreleases', 'events'], namespaces: 'all' });
  });
  it("refuses a bad entry with the other variables' errors", () => {
    expect(() => loadEnv({ MESHDRIFT_CLUSTERS: 'x', MESHDRIFT_LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    expect(() => loadEnv({ MESHDRIFT_CLUSTERS: 'x', MESHDRIFT_LOG_LEVEL: 'loud' })).toThrow(/MESHDRIFT_LOG_LEVEL[\s\S]*MESHDRIFT_CLUSTERS entry 1 "x"/);
  });
});

describe('kubeConfigFor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshdrift-kubeconfig-'));
  const file = join(dir, 'config');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- { name: one, cluster: { server: "https://127.0.0.1:6443" } }',
      '- { name: two, cluster: { server: "https://127.0.0.1:7443" } }',
      'users:',
      '- { name: u, user: { token: t } }',
      'contexts:',
      '- { name: ctx-one, context: { cluster: one, user: u } }',
      '- { name: ctx-two, context: { cluster: two, user: u } }',
      'current-context: ctx-one',
    ].join('\n'),
  );

  it('uses the current context, or the one named after #', () => {
    expect(kubeConfigFor({ name: 'a', access: { kind: 'kubeconfig', path: file } }).getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    expect(kubeConfigFor({ name: 'b', access: { kind: 'kubeconfig', path: file, context: 'ctx-two' } }).getCurrentCluster()?.server).toBe(
      'https://127.0.0.1:7443',
    );
  });
  it('fails with the cluster name for a missing context or file', () => {
    expect(() => kubeConfigFor({ name: 'b', access: { kind: 'kubeconfig', path: file, context: 'nope' } })).toThrow(
      /cluster "b": context "nope" not found .* \(has: ctx-one, ctx-two\)/,
    );
    expect(() => kubeConfigFor({ name: 'c', access: { kind: 'kubeconfig', path: join(dir, 'missing') } })).toThrow(/^cluster "c": /);
  });
});
