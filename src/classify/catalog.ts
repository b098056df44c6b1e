import type { Category } from '../model/finding.ts';

/**
 * The built-in mesh catalog: which Kubernetes kinds are mesh resources, of which mesh and category.
 * Data, not code branches: classification looks kinds up here. The policy engine (issue #3) extends
 * this catalog and checks it against each project's CRDs; this is the spine's starting set.
 */
export interface CatalogEntry {
  group: string;
  kind: string;
  mesh: string;
  category: Category;
}

const entries = (group: string, mesh: string, kinds: Record<string, Category>): CatalogEntry[] =>
  Object.entries(kinds).map(([kind, category]) => ({ group, kind, mesh, category }));

export const MESH_CATALOG: readonly CatalogEntry[] = [
  ...entries('networking.istio.io', 'istio', {
    VirtualService: 'traffic', DestinationRule: 'traffic', Gateway: 'traffic', ServiceEntry: 'traffic',
    Sidecar: 'traffic', EnvoyFilter: 'mesh-control', WorkloadEntry: 'traffic', WorkloadGroup: 'traffic',
    ProxyConfig: 'mesh-control',
  }),
  ...entries('security.istio.io', 'istio', {
    AuthorizationPolicy: 'security', PeerAuthentication: 'security', RequestAuthentication: 'security',
  }),
  ...entries('telemetry.istio.io', 'istio', { Telemetry: 'observability' }),
  ...entries('extensions.istio.io', 'istio', { WasmPlugin: 'mesh-control' }),
  ...entries('install.istio.io', 'istio', { IstioOperator: 'mesh-control' }),
  ...entries('policy.linkerd.io', 'linkerd', {
    Server: 'security', ServerAuthorization: 'security', AuthorizationPolicy: 'security',
    MeshTLSAuthentication: 'security', NetworkAuthentication: 'security', HTTPRoute: 'traffic',
    GRPCRoute: 'traffic', EgressNetwork: 'traffic',
  }),
  ...entries('linkerd.io', 'linkerd', { ServiceProfile: 'traffic' }),
  ...entries('gateway.networking.k8s.io', 'gateway-api', {
    Gateway: 'traffic', GatewayClass: 'mesh-control', HTTPRoute: 'traffic', GRPCRoute: 'traffic',
    TCPRoute: 'traffic', TLSRoute: 'traffic', UDPRoute: 'traffic', ReferenceGrant: 'security',
    BackendTLSPolicy: 'security',
  }),
  ...entries('networking.k8s.io', 'kubernetes', { NetworkPolicy: 'security' }),
];

export interface Catalog {
  /** Exact lookup by group and kind. */
  lookup(group: string, kind: string): CatalogEntry | undefined;
  /**
   * The API group of a bare kind (Flux change sets carry no group). '' when the kind is unknown or
   * ambiguous (Gateway is both Istio and Gateway API): a guess would make fingerprints disagree with
   * the watch source, which knows the group.
   */
  groupOfKind(kind: string): string;
  /** Entries whose kind matches, whatever the group. */
  byKind(kind: string): readonly CatalogEntry[];
}

export function createCatalog(list: readonly CatalogEntry[] = MESH_CATALOG): Catalog {
  const exact = new Map(list.map((e) => [`${e.group}/${e.kind}`, e]));
  const kinds = new Map<string, CatalogEntry[]>();
  for (const e of list) kinds.set(e.kind, [...(kinds.get(e.kind) ?? []), e]);
  return {
    lookup: (group, kind) => exact.get(`${group}/${kind}`),
    byKind: (kind) => kinds.get(kind) ?? [],
    groupOfKind: (kind) => {
      const candidates = kinds.get(kind) ?? [];
      return candidates.length === 1 ? (candidates[0]?.group ?? '') : '';
    },
  };
}
