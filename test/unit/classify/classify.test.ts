import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../../src/classify/catalog.ts';
import { classify, defaultPolicy } from '../../../src/classify/classify.ts';
import type { ResourceState, Signal } from '../../../src/model/signal.ts';
import { applicationSchema, applicationToSignal } from '../../../src/sources/argocd/application.ts';
import { readFixture } from '../../support/fixtures.ts';

const catalog = createCatalog();
const policy = defaultPolicy(catalog, ['console']);

function signalWith(resources: ResourceState[]): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'prod',
    owner: { kind: 'Application', namespace: 'argocd', name: 'app' },
    project: 'default',
    destination: {},
    observedAt: 0,
    completeness: 'snapshot',
    resources,
  };
}

describe('classify', () => {
  it.each([
    ['security.istio.io', 'AuthorizationPolicy', 'Modified', 'security', 'istio', 'critical'],
    ['security.istio.io', 'PeerAuthentication', 'Missing', 'security', 'istio', 'critical'],
    ['security.istio.io', 'AuthorizationPolicy', 'Extraneous', 'security', 'istio', 'high'],
    ['networking.istio.io', 'VirtualService', 'Modified', 'traffic', 'istio', 'high'],
    ['networking.istio.io', 'ServiceEntry', 'Extraneous', 'traffic', 'istio', 'medium'],
    ['telemetry.istio.io', 'Telemetry', 'Modified', 'observability', 'istio', 'medium'],
    ['gateway.networking.k8s.io', 'HTTPRoute', 'Modified', 'traffic', 'gateway-api', 'high'],
    ['policy.linkerd.io', 'Server', 'Modified', 'security', 'linkerd', 'critical'],
    ['apps', 'Deployment', 'Modified', 'non-mesh', 'none', 'low'],
    ['', 'ConfigMap', 'Extraneous', 'non-mesh', 'none', 'info'],
    ['networking.istio.io', 'VirtualService', 'Corrected', 'traffic', 'istio', 'medium'],
    // Bare kinds (Flux change sets): known category although the group is ambiguous.
    ['', 'AuthorizationPolicy', 'Corrected', 'security', 'istio|linkerd', 'high'],
    ['', 'Gateway', 'Modified', 'traffic', 'istio|gateway-api', 'high'],
  ] as const)('%s %s %s → %s/%s %s', (group, kind, state, category, mesh, severity) => {
    const [finding] = classify(signalWith([{ group, kind, namespace: 'ns', name: 'x', state }]), policy);
    expect(finding).toMatchObject({ category, mesh, severity, state, receivers: ['console'] });
    expect(finding?.reasons.length).toBeGreaterThan(0);
  });

  it.each([
    ['security.istio.io', 'AuthorizationPolicy', 'critical'],
    ['gateway.networking.k8s.io', 'HTTPRoute', 'high'],
    ['policy.linkerd.io', 'HTTPRoute', 'high'],
    ['networking.istio.io', 'EnvoyFilter', 'high'],
    ['telemetry.istio.io', 'Telemetry', 'medium'],
  ] as const)('%s %s not in effect: %s, as a live edit of its category, with the reason among the reasons', (group, kind, severity) => {
    const reason = 'not accepted by Gateway infra/public (listener https): NotAllowedByListeners';
    const [finding] = classify(signalWith([{ group, kind, namespace: 'ns', name: 'x', state: 'NotInEffect', detail: reason }]), policy);
    const [modified] = classify(signalWith([{ group, kind, namespace: 'ns', name: 'x', state: 'Modified' }]), policy);
    expect(finding).toMatchObject({ state: 'NotInEffect', severity, detail: reason });
    expect(finding?.severity).toBe(modified?.severity);
    expect(finding?.reasons).toContain(`not in effect: ${reason}`);
    expect(modified?.reasons.some((r) => r.startsWith('not in effect'))).toBe(false);
  });

  it('yields nothing for in-sync resources', () => {
    expect(classify(signalWith([{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'n', name: 'v', state: 'InSync' }]), policy)).toEqual([]);
  });

  it('classifies the synthetic mesh app: security critical, traffic high, all in one group', () => {
    const app = applicationSchema.parse(readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json'));
    const findings = classify(applicationToSignal(app, { cluster: 'prod', source: 'argocd-webhook', now: 0 }), policy);
    expect(findings.map((f) => `${f.resource.kind}:${f.severity}`)).toEqual([
      'ServiceEntry:medium',
      'VirtualService:high',
      'AuthorizationPolicy:critical',
      'PeerAuthentication:critical',
    ]);
    expect(new Set(findings.map((f) => f.groupKey)).size).toBe(1);
    expect(new Set(findings.map((f) => f.fingerprint)).size).toBe(4);
  });

  it('groupOfKind resolves unique kinds and refuses to guess ambiguous ones', () => {
    expect(catalog.groupOfKind('VirtualService')).toBe('networking.istio.io');
    expect(catalog.groupOfKind('PeerAuthentication')).toBe('security.istio.io');
    expect(catalog.groupOfKind('Gateway')).toBe('');
    expect(catalog.groupOfKind('AuthorizationPolicy')).toBe('');
    expect(catalog.groupOfKind('Deployment')).toBe('');
  });
});
