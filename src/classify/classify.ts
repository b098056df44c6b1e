import type { Catalog } from './catalog.ts';
import { compileRules, evaluateRules, type RuleSet, type RuleSubject } from './rules.ts';
import { findingLabels, type Category, type Finding } from '../model/finding.ts';
import { severityRank, type Severity } from '../model/severity.ts';
import { toolOf, type DriftState, type Signal } from '../model/signal.ts';
import { compileRoute, matchRoutes, ROUTE_DEFAULTS, type CompiledRoute } from '../route/route.ts';
import { fingerprintOf } from '../model/fingerprint.ts';
import { renderAnnotations } from './annotations.ts';

export type SeverityMatrix = Readonly<Record<Category, Readonly<Record<DriftState, Severity>>>>;

/**
 * Default severity: category x drift state. A drifted security policy is an incident; a drifted
 * telemetry config is a ticket. Extraneous objects (live, not in Git) and drift Flux already
 * reverted are one step less urgent than a live edit that still stands. Unreachable (a cluster or
 * an app whose live state cannot be read) is high everywhere: it hides whatever drift there is.
 * Shadow drift and unmanaged objects rank with Extraneous (something added beside Git); a resource
 * not in effect ranks with a live edit (the mesh does something other than Git says): an
 * AuthorizationPolicy istiod flags or a route its Gateway refused changes traffic or access as
 * surely as a `kubectl edit` does (docs/mesh.md, "Not in effect").
 */
export const DEFAULT_SEVERITY: SeverityMatrix = {
  security: {
    Modified: 'critical',
    Missing: 'critical',
    Extraneous: 'high',
    Unhealthy: 'high',
    Corrected: 'high',
    ApplyFailed: 'high',
    Unreachable: 'high',
    Shadow: 'high',
    Unmanaged: 'high',
    NotInEffect: 'critical',
  },
  traffic: {
    Modified: 'high',
    Missing: 'high',
    Extraneous: 'medium',
    Unhealthy: 'high',
    Corrected: 'medium',
    ApplyFailed: 'high',
    Unreachable: 'high',
    Shadow: 'medium',
    Unmanaged: 'medium',
    NotInEffect: 'high',
  },
  'mesh-control': {
    Modified: 'high',
    Missing: 'high',
    Extraneous: 'medium',
    Unhealthy: 'high',
    Corrected: 'medium',
    ApplyFailed: 'high',
    Unreachable: 'high',
    Shadow: 'medium',
    Unmanaged: 'medium',
    NotInEffect: 'high',
  },
  observability: {
    Modified: 'medium',
    Missing: 'medium',
    Extraneous: 'low',
    Unhealthy: 'medium',
    Corrected: 'low',
    ApplyFailed: 'medium',
    Unreachable: 'high',
    Shadow: 'low',
    Unmanaged: 'low',
    NotInEffect: 'medium',
  },
  'non-mesh': {
    Modified: 'low',
    Missing: 'low',
    Extraneous: 'info',
    Unhealthy: 'low',
    Corrected: 'info',
    ApplyFailed: 'low',
    Unreachable: 'high',
    Shadow: 'info',
    Unmanaged: 'info',
    NotInEffect: 'low',
  },
};

/**
 * A compiled classification policy: built-in defaults, or a policy file compiled once by
 * config/load.ts. classify() is one pure function of (signal, policy).
 */
export interface ClassifyPolicy {
  catalog: Catalog;
  severity: SeverityMatrix;
  rules: RuleSet;
  route: CompiledRoute;
  /** The policy's `notify_non_mesh`: false keeps non-mesh drift out of notifications (nonMeshDrift). */
  notifyNonMesh: boolean;
}

/** The built-in policy: default severities, no rules, every finding to every given receiver. */
export function defaultPolicy(
  catalog: Catalog,
  receivers: readonly string[],
  timing: { groupWaitMs?: number; groupIntervalMs?: number; resolveWaitMs?: number } = {},
): ClassifyPolicy {
  const [first, ...others] = receivers;
  const root = compileRoute(
    { receiver: first ?? 'console', routes: others.map((receiver) => ({ receiver, continue: true })) },
    { ...ROUTE_DEFAULTS, receiver: first ?? 'console', ...timing },
  );
  // With several receivers, the first also gets everything: as a sibling route, not the fallback.
  const route =
    others.length === 0
      ? root
      : { ...root, routes: [{ ...root, id: 'route (default receiver)', path: 'route (default receiver)', routes: [], continue: true }, ...root.routes] };
  return { catalog, severity: DEFAULT_SEVERITY, rules: compileRules([]), route, notifyNonMesh: false };
}

/**
 * Whether a finding is drift of something outside the mesh (issue #19): a kind the mesh catalog
 * does not know (a Deployment, a ConfigMap). meshdrift promises mesh drift, so by default such a
 * finding is tracked and listed (API, `explain`) but not notified, unless the policy says
 * `notify_non_mesh: true`. Not counted as such, whatever their kind: `Unreachable` (meshdrift cannot
 * read a cluster or an app, which hides mesh drift too) and the GitOps object's own state (a Flux
 * Kustomization that fails to apply, a HelmRelease's own drift): Git's mesh config does not reach
 * the cluster either.
 */
export function nonMeshDrift(f: Pick<Finding, 'category' | 'state' | 'owner' | 'resource'>): boolean {
  if (f.category !== 'non-mesh' || f.state === 'Unreachable') return false;
  const self = f.resource.kind === f.owner.kind && f.resource.name === f.owner.name && f.resource.namespace === f.owner.namespace;
  return !self;
}

interface KindInfo {
  category: Category;
  mesh: string;
  why: string;
}

function kindInfo(catalog: Catalog, group: string, kind: string): KindInfo {
  const exact = catalog.lookup(group, kind);
  if (exact) return { category: exact.category, mesh: exact.mesh, why: `catalog: ${kind}.${group} is ${exact.mesh} ${exact.category}` };
  if (group === '') {
    // A bare kind (Flux change sets have no group): if every mesh that defines it agrees on the
    // category, the category is known even if the group is not.
    const candidates = catalog.byKind(kind);
    const categories = new Set(candidates.map((c) => c.category));
    const first = candidates[0];
    if (first && categories.size === 1) {
      const meshes = [...new Set(candidates.map((c) => c.mesh))].join('|');
      return { category: first.category, mesh: meshes, why: `catalog: ${kind} (API group unknown) is ${meshes} ${first.category}` };
    }
  }
  return { category: 'non-mesh', mesh: 'none', why: `catalog: ${group === '' ? kind : `${kind}.${group}`} is not a mesh kind (non-mesh)` };
}

/**
 * Signal → findings: one per drifted resource that no rule ignores, with severity (default matrix,
 * then rules), labels, and the receivers its routes reach. Pure; InSync resources yield nothing.
 */
export function classify(signal: Signal, policy: ClassifyPolicy): Finding[] {
  const tool = toolOf(signal.source, signal.owner);
  const findings: Finding[] = [];
  for (const r of signal.resources) {
    if (r.state === 'InSync') continue;
    const info = kindInfo(policy.catalog, r.group, r.kind);
    const matrixSeverity = policy.severity[info.category][r.state];
    const defaultSeverity = r.unverified === true && severityRank(matrixSeverity) < severityRank('low') ? 'low' : matrixSeverity;
    const subject: RuleSubject = {
      cluster: signal.cluster,
      source: tool,
      project: signal.project,
      owner: signal.owner.name,
      owner_namespace: signal.owner.namespace,
      owner_kind: signal.owner.kind,
      destination_namespace: signal.destination.namespace ?? '',
      group: r.group,
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      category: info.category,
      mesh: info.mesh,
      state: r.state,
      labels: signal.labels ?? {},
    };
    const outcome = evaluateRules(policy.rules, subject, defaultSeverity);
    if (outcome.ignored) continue;
    const resource = { group: r.group, kind: r.kind, namespace: r.namespace, name: r.name };
    const base = {
      cluster: signal.cluster,
      tool,
      owner: signal.owner,
      project: signal.project,
      resource,
      state: r.state,
      category: info.category,
      mesh: info.mesh,
      severity: outcome.severity,
      labels: outcome.labels,
    };
    const labels = findingLabels(base);
    const routes = matchRoutes(policy.route, labels);
    const rendered = renderAnnotations(outcome.annotations, labels);
    const receivers = [...new Set(routes.map((route) => route.receiver))];
    const unnotified = !policy.notifyNonMesh && nonMeshDrift(base);
    findings.push({
      ...base,
      fingerprint: fingerprintOf(signal.cluster, tool, signal.owner, resource),
      groupKey: '',
      receivers,
      routes: routes.map((route) => route.id),
      reasons: [
        info.why,
        `default severity for ${info.category} ${r.state} is ${matrixSeverity}`,
        // Why the mesh does not apply it (the controller's verdict: sources/mesh/effect.ts).
        ...(r.state === 'NotInEffect' && r.detail !== undefined ? [`not in effect: ${r.detail}`] : []),
        ...(defaultSeverity === matrixSeverity ? [] : [`unverified by its source: severity capped at ${defaultSeverity}`]),
        ...outcome.reasons,
        ...routes.map((route) => `${route.path} → receiver ${route.receiver}`),
        ...rendered.dropped,
        ...(unnotified ? ['not notified: non-mesh drift (tracked and listed; set notify_non_mesh: true in the policy to be told)'] : []),
      ],
      ...(Object.keys(rendered.annotations).length === 0 ? {} : { annotations: rendered.annotations }),
      ...(unnotified ? { unnotified: 'non-mesh' as const } : {}),
      ...(r.detail === undefined ? {} : { detail: r.detail }),
      ...(signal.revision === undefined ? {} : { revision: signal.revision }),
      ...(signal.repoURL === undefined ? {} : { repoURL: signal.repoURL }),
      ...(r.changes === undefined ? {} : { changes: r.changes }),
      ...(r.attribution === undefined ? {} : { attribution: r.attribution }),
      observedAt: signal.observedAt,
    });
  }
  return findings;
}
