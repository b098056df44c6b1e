import type { Category } from '../model/finding.ts';

/**
 * The built-in mesh catalog: which Kubernetes kinds are mesh resources, of which mesh and category.
 * Data, not code branches: classification looks kinds up here.
 *
 * Every (group, kind) below was checked against the project's own CRDs or API docs (checked 2026-08):
 *
 * Istio
 *   - github.com/istio/api  kubernetes/customresourcedefinitions.gen.yaml
 *       (networking/security/telemetry/extensions.istio.io; TrafficExtension is new there, it
 *       supersedes WasmPlugin, see extensions/v1alpha1/traffic_extension.proto)
 *   - github.com/istio/istio  operator/pkg/apis/install/v1alpha1/register.go (install.istio.io,
 *       IstioOperator; the in-cluster operator is gone but the CR is still istioctl's input)
 *   - https://istio.io/v1.17/docs/reference/config/istio.operator.v1alpha1 (IstioOperator options)
 * Linkerd
 *   - github.com/linkerd/linkerd2  charts/linkerd-crds/templates/policy/*.yaml (policy.linkerd.io),
 *       charts/linkerd-crds/templates/serviceprofile.yaml (linkerd.io),
 *       charts/linkerd-crds/templates/workload/external-workload.yaml (workload.linkerd.io),
 *       multicluster/charts/linkerd-multicluster/templates/link-crd.yaml (multicluster.linkerd.io),
 *       policy-controller/k8s/api/src/policy/*.rs
 *     Linkerd has no policy.linkerd.io GRPCRoute: it ships and uses the Gateway API one
 *     (charts/linkerd-crds/templates/gateway.networking.k8s.io_grpcroutes.yaml).
 * Gateway API
 *   - github.com/kubernetes-sigs/gateway-api  config/crd/standard/*.yaml, config/crd/experimental/*.yaml
 *       (HEAD and tags v1.2.0..v1.6.0: BackendLBPolicy experimental until v1.2; XListenerSet in
 *       gateway.networking.x-k8s.io in v1.3/v1.4, promoted to gateway.networking.k8s.io ListenerSet
 *       in v1.5)
 * Cilium
 *   - github.com/cilium/cilium  pkg/k8s/apis/cilium.io/client/crds/v2/{ciliumnetworkpolicies,
 *       ciliumclusterwidenetworkpolicies,ciliumenvoyconfigs,ciliumclusterwideenvoyconfigs,
 *       ciliumlocalredirectpolicies,ciliumegressgatewaypolicies,ciliumcidrgroups}.yaml,
 *       pkg/k8s/apis/cilium.io/v2/register.go
 * Consul
 *   - github.com/hashicorp/consul-k8s  charts/consul/templates/crd-*.yaml (HEAD; consul.hashicorp.com
 *       and auth.consul.hashicorp.com), control-plane/api/v1alpha1/*_types.go; tags v1.3.0..v1.5.x
 *       for the experimental v2 mesh.consul.hashicorp.com kinds (removed in v1.6.0)
 * Kuma
 *   - github.com/kumahq/kuma  deployments/charts/kuma/crds/kuma.io_*.yaml (HEAD and tag v2.14.3),
 *       pkg/core/resources/apis/<kind>/api/v1alpha1/<kind>.go; the built-in gateway kinds and the
 *       legacy policies are in every 2.x release and were removed on master by kumahq/kuma#17478
 *       and #17484
 * Kubernetes
 *   - https://kubernetes.io/docs/reference/kubernetes-api/extend-resources/mutating-webhook-configuration-v1
 *   - https://docs.rs/k8s-openapi/0.17.0/k8s_openapi/api/networking/v1/struct.NetworkPolicy.html
 *     (networking.k8s.io/v1 NetworkPolicy, generated from the Kubernetes OpenAPI spec)
 *
 * Left out on purpose: kinds the control plane generates and GitOps tools do not own (Kuma Dataplane,
 * *Insight, Zone, ZoneIngress/ZoneEgress, Workload, MeshZoneAddress; Cilium CiliumEndpoint,
 * CiliumIdentity, CiliumNode), and CNI-only Cilium kinds (BGP, IPAM, L2 announcements).
 */
export interface CatalogEntry {
  group: string;
  kind: string;
  mesh: string;
  category: Category;
}

/** The categories a catalog entry may have ('non-mesh' is what classification uses for the rest). */
export const MESH_CATEGORIES = ['security', 'traffic', 'observability', 'mesh-control'] as const satisfies readonly Category[];
export type MeshCategory = (typeof MESH_CATEGORIES)[number];

/** The meshes the built-in catalog knows. */
export const MESHES = ['istio', 'linkerd', 'gateway-api', 'cilium', 'consul', 'kuma', 'kubernetes'] as const;
export type Mesh = (typeof MESHES)[number];

const entries = (group: string, mesh: Mesh, kinds: Record<string, MeshCategory>): CatalogEntry[] =>
  Object.entries(kinds).map(([kind, category]) => ({ group, kind, mesh, category }));

export const MESH_CATALOG: readonly CatalogEntry[] = [
  // ── Istio ───────────────────────────────────────────────────────────────────────────────────
  ...entries('networking.istio.io', 'istio', {
    VirtualService: 'traffic',
    DestinationRule: 'traffic',
    Gateway: 'traffic',
    ServiceEntry: 'traffic',
    // Sidecar scopes which hosts/ports a proxy sees and accepts: a reachability/routing knob.
    Sidecar: 'traffic',
    EnvoyFilter: 'mesh-control',
    WorkloadEntry: 'traffic',
    WorkloadGroup: 'traffic',
    ProxyConfig: 'mesh-control',
  }),
  ...entries('security.istio.io', 'istio', {
    AuthorizationPolicy: 'security',
    PeerAuthentication: 'security',
    RequestAuthentication: 'security',
  }),
  ...entries('telemetry.istio.io', 'istio', { Telemetry: 'observability' }),
  ...entries('extensions.istio.io', 'istio', {
    // Wasm/Lua filters patch the proxy; what they do (authn, headers, …) is plugin-specific.
    WasmPlugin: 'mesh-control',
    TrafficExtension: 'mesh-control',
  }),
  ...entries('install.istio.io', 'istio', { IstioOperator: 'mesh-control' }),

  // ── Linkerd ─────────────────────────────────────────────────────────────────────────────────
  ...entries('policy.linkerd.io', 'linkerd', {
    // Server selects the ports that authorization policies (and the default-deny) apply to.
    Server: 'security',
    ServerAuthorization: 'security',
    AuthorizationPolicy: 'security',
    MeshTLSAuthentication: 'security',
    NetworkAuthentication: 'security',
    HTTPRoute: 'traffic',
    // EgressNetwork also carries an allow/deny traffic policy, but its job is defining egress destinations.
    EgressNetwork: 'traffic',
    HTTPLocalRateLimitPolicy: 'traffic',
  }),
  ...entries('linkerd.io', 'linkerd', { ServiceProfile: 'traffic' }),
  ...entries('workload.linkerd.io', 'linkerd', { ExternalWorkload: 'traffic' }),
  // A Link holds the remote cluster's credentials and gateway: multicluster plumbing, not a route.
  ...entries('multicluster.linkerd.io', 'linkerd', { Link: 'mesh-control' }),

  // ── Gateway API (used by Istio, Linkerd, Cilium, Consul, Kuma and gateways alike) ───────────
  ...entries('gateway.networking.k8s.io', 'gateway-api', {
    Gateway: 'traffic',
    // A GatewayClass picks the controller that runs gateways: infrastructure, not a route.
    GatewayClass: 'mesh-control',
    HTTPRoute: 'traffic',
    GRPCRoute: 'traffic',
    TCPRoute: 'traffic',
    TLSRoute: 'traffic',
    UDPRoute: 'traffic',
    ListenerSet: 'traffic',
    // ReferenceGrant is the cross-namespace trust boundary for routes and secrets.
    ReferenceGrant: 'security',
    BackendTLSPolicy: 'security',
    // Experimental channel up to v1.2.0, removed in v1.3.0.
    BackendLBPolicy: 'traffic',
  }),
  ...entries('gateway.networking.x-k8s.io', 'gateway-api', {
    // Experimental in v1.3/v1.4; became gateway.networking.k8s.io ListenerSet in v1.5.
    XListenerSet: 'traffic',
    XBackendTrafficPolicy: 'traffic',
    XBackend: 'traffic',
    // XMesh describes a GAMMA mesh implementation, the mesh's own GatewayClass.
    XMesh: 'mesh-control',
  }),

  // ── Cilium ──────────────────────────────────────────────────────────────────────────────────
  ...entries('cilium.io', 'cilium', {
    CiliumNetworkPolicy: 'security',
    CiliumClusterwideNetworkPolicy: 'security',
    // Raw Envoy xDS resources injected into Cilium's proxy: the analogue of Istio's EnvoyFilter.
    CiliumEnvoyConfig: 'mesh-control',
    CiliumClusterwideEnvoyConfig: 'mesh-control',
    CiliumLocalRedirectPolicy: 'traffic',
    // Pins the source IP of egress traffic (often for allow-lists), but it is a routing decision.
    CiliumEgressGatewayPolicy: 'traffic',
    // CIDR sets referenced by Cilium network policies.
    CiliumCIDRGroup: 'security',
  }),

  // ── Consul ──────────────────────────────────────────────────────────────────────────────────
  ...entries('consul.hashicorp.com', 'consul', {
    ServiceIntentions: 'security',
    JWTProvider: 'security',
    // GatewayPolicy attaches JWT requirements to API gateway listeners.
    GatewayPolicy: 'security',
    RouteAuthFilter: 'security',
    // Backend TLS certificates (SDS) for API gateway routes.
    RouteTLSSDSFilter: 'security',
    // ExportedServices decides which services peers/partitions may reach: an exposure boundary.
    ExportedServices: 'security',
    ServiceRouter: 'traffic',
    ServiceSplitter: 'traffic',
    ServiceResolver: 'traffic',
    // ServiceDefaults mostly sets protocol, upstream limits and timeouts; it can also set mTLS mode.
    ServiceDefaults: 'traffic',
    IngressGateway: 'traffic',
    TerminatingGateway: 'traffic',
    SamenessGroup: 'traffic',
    RouteRetryFilter: 'traffic',
    RouteTimeoutFilter: 'traffic',
    MeshService: 'traffic',
    // Registration puts an external service into the catalog, like Istio's ServiceEntry.
    Registration: 'traffic',
    ProxyDefaults: 'mesh-control',
    // Mesh is mesh-wide settings (TLS minimums, transparent-proxy mode, HTTP options).
    Mesh: 'mesh-control',
    GatewayClassConfig: 'mesh-control',
    RouteExtProc: 'mesh-control',
    PeeringAcceptor: 'mesh-control',
    PeeringDialer: 'mesh-control',
    // Both limit requests to the Consul servers (control plane), not service traffic.
    ControlPlaneRequestLimit: 'mesh-control',
    RateLimit: 'mesh-control',
  }),
  // Consul's v2 catalog API (experimental, consul-k8s v1.3.0–v1.5.x, removed in v1.6.0; the
  // TrafficPermissions CRD is still shipped).
  ...entries('auth.consul.hashicorp.com', 'consul', { TrafficPermissions: 'security' }),
  ...entries('mesh.consul.hashicorp.com', 'consul', {
    HTTPRoute: 'traffic',
    GRPCRoute: 'traffic',
    TCPRoute: 'traffic',
    APIGateway: 'traffic',
    MeshGateway: 'traffic',
    ProxyConfiguration: 'mesh-control',
    MeshConfiguration: 'mesh-control',
  }),

  // ── Kuma ────────────────────────────────────────────────────────────────────────────────────
  ...entries('kuma.io', 'kuma', {
    MeshTrafficPermission: 'security',
    MeshTLS: 'security',
    MeshIdentity: 'security',
    MeshTrust: 'security',
    MeshTimeout: 'traffic',
    MeshRetry: 'traffic',
    MeshCircuitBreaker: 'traffic',
    MeshHTTPRoute: 'traffic',
    MeshTCPRoute: 'traffic',
    MeshRateLimit: 'traffic',
    // Fault injection is deliberate traffic disruption (delays, aborts).
    MeshFaultInjection: 'traffic',
    MeshHealthCheck: 'traffic',
    MeshLoadBalancingStrategy: 'traffic',
    // MeshPassthrough lets traffic leave the mesh unproxied: an egress route, with security impact.
    MeshPassthrough: 'traffic',
    MeshExternalService: 'traffic',
    MeshService: 'traffic',
    MeshMultiZoneService: 'traffic',
    HostnameGenerator: 'traffic',
    MeshAccessLog: 'observability',
    MeshMetric: 'observability',
    MeshTrace: 'observability',
    MeshOpenTelemetryBackend: 'observability',
    MeshProxyPatch: 'mesh-control',
    // Mesh holds the mTLS backends too, but it is first of all the mesh's own definition.
    Mesh: 'mesh-control',
    // Patches the injected sidecar container.
    ContainerPatch: 'mesh-control',
    // Built-in gateway (removed on master, in every 2.x release).
    MeshGateway: 'traffic',
    MeshGatewayRoute: 'traffic',
    MeshGatewayInstance: 'mesh-control',
    MeshGatewayConfig: 'mesh-control',
    // Legacy source/destination policies (deprecated, removed on master, in every 2.x release).
    TrafficPermission: 'security',
    TrafficRoute: 'traffic',
    Timeout: 'traffic',
    Retry: 'traffic',
    CircuitBreaker: 'traffic',
    HealthCheck: 'traffic',
    FaultInjection: 'traffic',
    RateLimit: 'traffic',
    ExternalService: 'traffic',
    VirtualOutbound: 'traffic',
    TrafficLog: 'observability',
    TrafficTrace: 'observability',
    ProxyTemplate: 'mesh-control',
  }),

  // ── Kubernetes ──────────────────────────────────────────────────────────────────────────────
  ...entries('networking.k8s.io', 'kubernetes', { NetworkPolicy: 'security' }),
  // The sidecar injector of Istio, Linkerd, Consul and Kuma is a MutatingWebhookConfiguration.
  ...entries('admissionregistration.k8s.io', 'kubernetes', { MutatingWebhookConfiguration: 'mesh-control' }),
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

/** Builds the lookup maps once; every lookup after that is O(1). */
export function createCatalog(list: readonly CatalogEntry[] = MESH_CATALOG): Catalog {
  const exact = new Map<string, CatalogEntry>();
  const kinds = new Map<string, CatalogEntry[]>();
  for (const e of list) {
    exact.set(`${e.group}/${e.kind}`, e);
    const same = kinds.get(e.kind);
    if (same) same.push(e);
    else kinds.set(e.kind, [e]);
  }
  const groups = new Map<string, string>();
  for (const [kind, candidates] of kinds) groups.set(kind, candidates.length === 1 ? (candidates[0]?.group ?? '') : '');
  return {
    lookup: (group, kind) => exact.get(`${group}/${kind}`),
    byKind: (kind) => kinds.get(kind) ?? [],
    groupOfKind: (kind) => groups.get(kind) ?? '',
  };
}
