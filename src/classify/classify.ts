import type { Catalog } from './catalog.ts';
import type { Category, Finding } from '../model/finding.ts';
import type { Severity } from '../model/severity.ts';
import { toolOf, type DriftState, type Signal } from '../model/signal.ts';
import { fingerprintOf, groupKeyOf } from '../track/fingerprint.ts';

/**
 * Default severity: category x drift state. A drifted security policy is an incident; a drifted
 * telemetry config is a ticket. Extraneous objects (live, not in Git) and drift Flux already
 * reverted are one step less urgent than a live edit that still stands.
 */
export const DEFAULT_SEVERITY: Readonly<Record<Category, Readonly<Record<DriftState, Severity>>>> = {
  security: { Modified: 'critical', Missing: 'critical', Extraneous: 'high', Unhealthy: 'high', Corrected: 'high', ApplyFailed: 'high' },
  traffic: { Modified: 'high', Missing: 'high', Extraneous: 'medium', Unhealthy: 'high', Corrected: 'medium', ApplyFailed: 'high' },
  'mesh-control': { Modified: 'high', Missing: 'high', Extraneous: 'medium', Unhealthy: 'high', Corrected: 'medium', ApplyFailed: 'high' },
  observability: { Modified: 'medium', Missing: 'medium', Extraneous: 'low', Unhealthy: 'medium', Corrected: 'low', ApplyFailed: 'medium' },
  'non-mesh': { Modified: 'low', Missing: 'low', Extraneous: 'info', Unhealthy: 'low', Corrected: 'info', ApplyFailed: 'low' },
};

/**
 * A compiled classification policy. The spine has the built-in defaults only; the policy file
 * (issue #3) compiles into the same shape, so classify() stays one pure function.
 */
export interface ClassifyPolicy {
  catalog: Catalog;
  severity: Readonly<Record<Category, Readonly<Record<DriftState, Severity>>>>;
  /** Receivers of every finding when no rule says otherwise. */
  receivers: readonly string[];
}

export function defaultPolicy(catalog: Catalog, receivers: readonly string[]): ClassifyPolicy {
  return { catalog, severity: DEFAULT_SEVERITY, receivers };
}

interface KindInfo {
  category: Category;
  mesh: string;
  why: string;
}

function kindInfo(catalog: Catalog, group: string, kind: string): KindInfo {
  const exact = catalog.lookup(group, kind);
  if (exact) return { category: exact.category, mesh: exact.mesh, why: `${kind}.${group} is a ${exact.mesh} ${exact.category} kind` };
  if (group === '') {
    // A bare kind (Flux change sets have no group): if every mesh that defines it agrees on the
    // category, the category is known even if the group is not.
    const candidates = catalog.byKind(kind);
    const categories = new Set(candidates.map((c) => c.category));
    const first = candidates[0];
    if (first && categories.size === 1) {
      const meshes = [...new Set(candidates.map((c) => c.mesh))].join('|');
      return { category: first.category, mesh: meshes, why: `${kind} (group unknown) is a ${meshes} ${first.category} kind` };
    }
  }
  return { category: 'non-mesh', mesh: 'none', why: `${group === '' ? kind : `${kind}.${group}`} is not a mesh kind` };
}

/** Signal → findings: one per drifted resource. Pure; InSync resources yield nothing. */
export function classify(signal: Signal, policy: ClassifyPolicy): Finding[] {
  const tool = toolOf(signal.source, signal.owner);
  const groupKey = groupKeyOf(signal.cluster, tool, signal.owner);
  const findings: Finding[] = [];
  for (const r of signal.resources) {
    if (r.state === 'InSync') continue;
    const info = kindInfo(policy.catalog, r.group, r.kind);
    const severity = policy.severity[info.category][r.state];
    const resource = { group: r.group, kind: r.kind, namespace: r.namespace, name: r.name };
    findings.push({
      fingerprint: fingerprintOf(signal.cluster, tool, signal.owner, resource),
      groupKey,
      cluster: signal.cluster,
      tool,
      owner: signal.owner,
      project: signal.project,
      resource,
      state: r.state,
      category: info.category,
      mesh: info.mesh,
      severity,
      receivers: [...policy.receivers],
      reasons: [info.why, `default severity for ${info.category} ${r.state} is ${severity}`],
      ...(r.detail === undefined ? {} : { detail: r.detail }),
      ...(signal.revision === undefined ? {} : { revision: signal.revision }),
      observedAt: signal.observedAt,
    });
  }
  return findings;
}
