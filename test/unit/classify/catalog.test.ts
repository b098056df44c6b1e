import { describe, expect, it } from 'vitest';
import { createCatalog, MESH_CATALOG, MESH_CATEGORIES, MESHES, type CatalogEntry } from '../../../src/classify/catalog.ts';
import { CATEGORIES } from '../../../src/model/finding.ts';

const catalog = createCatalog();

// One row per required kind: [group, kind, mesh, category].
const REQUIRED: readonly (readonly [string, string, string, string])[] = [
  // Istio
  ['networking.istio.io', 'VirtualService', 'istio', 'traffic'],
  ['networking.istio.io', 'DestinationRule', 'istio', 'traffic'],
  ['networking.istio.io', 'Gateway', 'istio', 'traffic'],
  ['networking.istio.io', 'ServiceEntry', 'istio', 'traffic'],
  ['networking.istio.io', 'Sidecar', 'istio', 'traffic'],
  ['networking.istio.io', 'EnvoyFilter', 'istio', 'mesh-control'],
  ['networking.istio.io', 'WorkloadEntry', 'istio', 'traffic'],
  ['networking.istio.io', 'WorkloadGroup', 'istio', 'traffic'],
  ['networking.istio.io', 'ProxyConfig', 'istio', 'mesh-control'],
  ['security.istio.io', 'AuthorizationPolicy', 'istio', 'security'],
  ['security.istio.io', 'PeerAuthentication', 'istio', 'security'],
  ['security.istio.io', 'RequestAuthentication', 'istio', 'security'],
  ['telemetry.istio.io', 'Telemetry', 'istio', 'observability'],
  ['extensions.istio.io', 'WasmPlugin', 'istio', 'mesh-control'],
  ['extensions.istio.io', 'TrafficExtension', 'istio', 'mesh-control'],
  ['install.istio.io', 'IstioOperator', 'istio', 'mesh-control'],
  // Linkerd (its GRPCRoute is the Gateway API one, see below)
  ['policy.linkerd.io', 'Server', 'linkerd', 'security'],
  ['policy.linkerd.io', 'ServerAuthorization', 'linkerd', 'security'],
  ['policy.linkerd.io', 'AuthorizationPolicy', 'linkerd', 'security'],
  ['policy.linkerd.io', 'MeshTLSAuthentication', 'linkerd', 'security'],
  ['policy.linkerd.io', 'NetworkAuthentication', 'linkerd', 'security'],
  ['policy.linkerd.io', 'HTTPRoute', 'linkerd', 'traffic'],
  ['policy.linkerd.io', 'EgressNetwork', 'linkerd', 'traffic'],
  ['policy.linkerd.io', 'HTTPLocalRateLimitPolicy', 'linkerd', 'traffic'],
  ['linkerd.io', 'ServiceProfile', 'linkerd', 'traffic'],
  ['workload.linkerd.io', 'ExternalWorkload', 'linkerd', 'traffic'],
  ['multicluster.linkerd.io', 'Link', 'linkerd', 'mesh-control'],
  // Gateway API
  ['gateway.networking.k8s.io', 'Gateway', 'gateway-api', 'traffic'],
  ['gateway.networking.k8s.io', 'GatewayClass', 'gateway-api', 'mesh-control'],
  ['gateway.networking.k8s.io', 'HTTPRoute', 'gateway-api', 'traffic'],
  ['gateway.networking.k8s.io', 'GRPCRoute', 'gateway-api', 'traffic'],
  ['gateway.networking.k8s.io', 'TCPRoute', 'gateway-api', 'traffic'],
  ['gateway.networking.k8s.io', 'TLSRoute', 'gateway-api', 'traffic'],
  ['gateway.networking.k8s.io', 'UDPRoute', 'gateway-api', 'traffic'],
  ['gateway.networking.k8s.io', 'ReferenceGrant', 'gateway-api', 'security'],
  ['gateway.networking.k8s.io', 'BackendTLSPolicy', 'gateway-api', 'security'],
  ['gateway.networking.k8s.io', 'ListenerSet', 'gateway-api', 'traffic'],
  ['gateway.networking.k8s.io', 'BackendLBPolicy', 'gateway-api', 'traffic'],
  ['gateway.networking.x-k8s.io', 'XListenerSet', 'gateway-api', 'traffic'],
  ['gateway.networking.x-k8s.io', 'XBackendTrafficPolicy', 'gateway-api', 'traffic'],
  ['gateway.networking.x-k8s.io', 'XBackend', 'gateway-api', 'traffic'],
  ['gateway.networking.x-k8s.io', 'XMesh', 'gateway-api', 'mesh-control'],
  // Cilium
  ['cilium.io', 'CiliumNetworkPolicy', 'cilium', 'security'],
  ['cilium.io', 'CiliumClusterwideNetworkPolicy', 'cilium', 'security'],
  ['cilium.io', 'CiliumEnvoyConfig', 'cilium', 'mesh-control'],
  ['cilium.io', 'CiliumClusterwideEnvoyConfig', 'cilium', 'mesh-control'],
  ['cilium.io', 'CiliumLocalRedirectPolicy', 'cilium', 'traffic'],
  ['cilium.io', 'CiliumEgressGatewayPolicy', 'cilium', 'traffic'],
  ['cilium.io', 'CiliumCIDRGroup', 'cilium', 'security'],
  // Consul
  ['consul.hashicorp.com', 'ServiceIntentions', 'consul', 'security'],
  ['consul.hashicorp.com', 'ServiceRouter', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'ServiceSplitter', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'ServiceResolver', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'ServiceDefaults', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'ProxyDefaults', 'consul', 'mesh-control'],
  ['consul.hashicorp.com', 'Mesh', 'consul', 'mesh-control'],
  ['consul.hashicorp.com', 'IngressGateway', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'TerminatingGateway', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'ExportedServices', 'consul', 'security'],
  ['consul.hashicorp.com', 'JWTProvider', 'consul', 'security'],
  ['consul.hashicorp.com', 'SamenessGroup', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'GatewayPolicy', 'consul', 'security'],
  ['consul.hashicorp.com', 'RouteAuthFilter', 'consul', 'security'],
  ['consul.hashicorp.com', 'RouteRetryFilter', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'RouteTimeoutFilter', 'consul', 'traffic'],
  ['consul.hashicorp.com', 'PeeringAcceptor', 'consul', 'mesh-control'],
  ['consul.hashicorp.com', 'PeeringDialer', 'consul', 'mesh-control'],
  ['consul.hashicorp.com', 'RateLimit', 'consul', 'mesh-control'],
  ['auth.consul.hashicorp.com', 'TrafficPermissions', 'consul', 'security'],
  ['mesh.consul.hashicorp.com', 'GRPCRoute', 'consul', 'traffic'],
  ['mesh.consul.hashicorp.com', 'ProxyConfiguration', 'consul', 'mesh-control'],
  // Kuma
  ['kuma.io', 'Mesh', 'kuma', 'mesh-control'],
  ['kuma.io', 'MeshTrafficPermission', 'kuma', 'security'],
  ['kuma.io', 'MeshTLS', 'kuma', 'security'],
  ['kuma.io', 'MeshIdentity', 'kuma', 'security'],
  ['kuma.io', 'MeshTrust', 'kuma', 'security'],
  ['kuma.io', 'MeshTimeout', 'kuma', 'traffic'],
  ['kuma.io', 'MeshRetry', 'kuma', 'traffic'],
  ['kuma.io', 'MeshCircuitBreaker', 'kuma', 'traffic'],
  ['kuma.io', 'MeshHTTPRoute', 'kuma', 'traffic'],
  ['kuma.io', 'MeshTCPRoute', 'kuma', 'traffic'],
  ['kuma.io', 'MeshRateLimit', 'kuma', 'traffic'],
  ['kuma.io', 'MeshFaultInjection', 'kuma', 'traffic'],
  ['kuma.io', 'MeshHealthCheck', 'kuma', 'traffic'],
  ['kuma.io', 'MeshLoadBalancingStrategy', 'kuma', 'traffic'],
  ['kuma.io', 'MeshPassthrough', 'kuma', 'traffic'],
  ['kuma.io', 'MeshExternalService', 'kuma', 'traffic'],
  ['kuma.io', 'MeshAccessLog', 'kuma', 'observability'],
  ['kuma.io', 'MeshMetric', 'kuma', 'observability'],
  ['kuma.io', 'MeshTrace', 'kuma', 'observability'],
  ['kuma.io', 'MeshProxyPatch', 'kuma', 'mesh-control'],
  ['kuma.io', 'MeshGateway', 'kuma', 'traffic'],
  ['kuma.io', 'TrafficPermission', 'kuma', 'security'],
  // Kubernetes
  ['networking.k8s.io', 'NetworkPolicy', 'kubernetes', 'security'],
  ['admissionregistration.k8s.io', 'MutatingWebhookConfiguration', 'kubernetes', 'mesh-control'],
];

const key = (e: Pick<CatalogEntry, 'group' | 'kind'>): string => `${e.group}/${e.kind}`;

describe('MESH_CATALOG', () => {
  it.each(REQUIRED)('%s %s → %s/%s', (group, kind, mesh, category) => {
    expect(catalog.lookup(group, kind)).toEqual({ group, kind, mesh, category });
  });

  it('has no duplicate (group, kind) entries', () => {
    const seen = new Map<string, number>();
    for (const e of MESH_CATALOG) seen.set(key(e), (seen.get(key(e)) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
  });

  it('gives every entry a mesh category (never non-mesh) and a known mesh', () => {
    for (const e of MESH_CATALOG) {
      expect(MESH_CATEGORIES as readonly string[], key(e)).toContain(e.category);
      expect(CATEGORIES as readonly string[], key(e)).toContain(e.category);
      expect(e.category, key(e)).not.toBe('non-mesh');
      expect(MESHES as readonly string[], key(e)).toContain(e.mesh);
      expect(e.group, key(e)).toMatch(/^[a-z0-9.-]+\.[a-z]+$/);
      expect(e.kind, key(e)).toMatch(/^[A-Z][A-Za-z0-9]*$/);
    }
  });

  it('has entries for every mesh', () => {
    for (const mesh of MESHES)
      expect(
        MESH_CATALOG.some((e) => e.mesh === mesh),
        mesh,
      ).toBe(true);
  });

  it('does not list a Linkerd GRPCRoute: Linkerd uses the Gateway API one', () => {
    expect(catalog.lookup('policy.linkerd.io', 'GRPCRoute')).toBeUndefined();
  });
});

describe('createCatalog', () => {
  it.each([
    ['Gateway', ['gateway.networking.k8s.io', 'networking.istio.io']],
    ['HTTPRoute', ['gateway.networking.k8s.io', 'mesh.consul.hashicorp.com', 'policy.linkerd.io']],
    ['GRPCRoute', ['gateway.networking.k8s.io', 'mesh.consul.hashicorp.com']],
    ['AuthorizationPolicy', ['policy.linkerd.io', 'security.istio.io']],
    ['Mesh', ['consul.hashicorp.com', 'kuma.io']],
  ] as const)('%s is defined by several groups: groupOfKind refuses to guess, byKind lists all', (kind, groups) => {
    expect(catalog.groupOfKind(kind)).toBe('');
    expect(
      catalog
        .byKind(kind)
        .map((e) => e.group)
        .sort(),
    ).toEqual([...groups]);
  });

  it('agrees on the category of ambiguous route and gateway kinds, so bare kinds still classify', () => {
    for (const kind of ['Gateway', 'HTTPRoute', 'GRPCRoute', 'TCPRoute', 'AuthorizationPolicy', 'Mesh', 'MeshService', 'MeshGateway']) {
      expect(new Set(catalog.byKind(kind).map((e) => e.category)).size, kind).toBe(1);
    }
  });

  it('keeps RateLimit ambiguous: Consul control-plane limit vs Kuma legacy traffic policy', () => {
    expect(catalog.groupOfKind('RateLimit')).toBe('');
    expect(
      catalog
        .byKind('RateLimit')
        .map((e) => `${e.mesh}:${e.category}`)
        .sort(),
    ).toEqual(['consul:mesh-control', 'kuma:traffic']);
  });

  it('resolves kinds defined by one group only', () => {
    expect(catalog.groupOfKind('VirtualService')).toBe('networking.istio.io');
    expect(catalog.groupOfKind('CiliumNetworkPolicy')).toBe('cilium.io');
    expect(catalog.groupOfKind('ServiceIntentions')).toBe('consul.hashicorp.com');
    expect(catalog.groupOfKind('MeshTrafficPermission')).toBe('kuma.io');
    expect(catalog.groupOfKind('ListenerSet')).toBe('gateway.networking.k8s.io');
    expect(catalog.groupOfKind('XListenerSet')).toBe('gateway.networking.x-k8s.io');
    expect(catalog.groupOfKind('Deployment')).toBe('');
    expect(catalog.byKind('Deployment')).toEqual([]);
  });

  it('groupOfKind is consistent with byKind for every catalog kind', () => {
    for (const e of MESH_CATALOG) {
      const candidates = catalog.byKind(e.kind);
      expect(candidates).toContain(e);
      expect(catalog.groupOfKind(e.kind)).toBe(candidates.length === 1 ? e.group : '');
    }
  });

  it('is exact: kinds and groups are case-sensitive and must both match', () => {
    expect(catalog.lookup('networking.istio.io', 'virtualservice')).toBeUndefined();
    expect(catalog.lookup('security.istio.io', 'VirtualService')).toBeUndefined();
    expect(catalog.lookup('', 'VirtualService')).toBeUndefined();
  });

  it('works on a custom list', () => {
    const custom = createCatalog([{ group: 'example.com', kind: 'Widget', mesh: 'example', category: 'traffic' }]);
    expect(custom.lookup('example.com', 'Widget')?.category).toBe('traffic');
    expect(custom.groupOfKind('Widget')).toBe('example.com');
    expect(custom.lookup('networking.istio.io', 'VirtualService')).toBeUndefined();
  });
});
