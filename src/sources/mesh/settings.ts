import type { EvidenceSettings } from './evidence.ts';
import { DEFAULT_GITOPS_MANAGERS, DEFAULT_OWNERSHIP, type OwnershipSettings } from './ownership.ts';

/**
 * The mesh watch's settings (issue #16), from MESHDRIFT_MESH_* (docs/reference.md, docs/mesh.md).
 */

/** One `<namespace>/<Kind>/<name>` pattern of MESHDRIFT_MESH_UNMANAGED_IGNORE; `*` matches any run of characters. */
export interface ObjectMatcher {
  namespace: RegExp;
  kind: RegExp;
  name: RegExp;
}

export interface UnmanagedPolicy {
  /** Report mesh objects no GitOps tool owns (default true). */
  report: boolean;
  /** Objects never reported unmanaged. */
  ignore: readonly ObjectMatcher[];
}

export interface MeshWatchSettings {
  ownership: OwnershipSettings;
  evidence: EvidenceSettings;
  unmanaged: UnmanagedPolicy;
  /** Most objects remembered per cluster; past it, objects are kept as identities only. */
  maxObjects: number;
  /** `all`, or the namespaces to watch (cluster-scoped kinds are watched only with `all`). */
  namespaces: 'all' | readonly string[];
}

const glob = (text: string): RegExp =>
  new RegExp(
    `^${text
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

/** One `ns/Kind/name` pattern (config/env.ts checked its shape). */
export function matcherOf(entry: string): ObjectMatcher {
  const [namespace = '*', kind = '*', name = '*'] = entry.split('/');
  return { namespace: glob(namespace), kind: glob(kind), name: glob(name) };
}

export function matchesAny(matchers: readonly ObjectMatcher[], o: { namespace: string; kind: string; name: string }): boolean {
  return matchers.some((m) => m.namespace.test(o.namespace) && m.kind.test(o.kind) && m.name.test(o.name));
}

export const DEFAULT_MESH_WATCH_SETTINGS: MeshWatchSettings = {
  ownership: DEFAULT_OWNERSHIP,
  evidence: { gitops: new Set(DEFAULT_GITOPS_MANAGERS), ignored: new Set(['before-first-apply']) },
  unmanaged: { report: true, ignore: [] },
  maxObjects: 50_000,
  namespaces: 'all',
};

export interface MeshEnv {
  MESHDRIFT_MESH_WATCH: 'on' | 'off';
  MESHDRIFT_MESH_NAMESPACES: string[];
  MESHDRIFT_MESH_MAX_OBJECTS: number;
  MESHDRIFT_MESH_GITOPS_MANAGERS: string[];
  MESHDRIFT_MESH_IGNORE_MANAGERS: string[];
  MESHDRIFT_MESH_IGNORE_PATHS: string[];
  MESHDRIFT_ARGOCD_NAMESPACE: string;
  MESHDRIFT_ARGOCD_INSTANCE_LABEL: string;
  MESHDRIFT_MESH_UNMANAGED: 'report' | 'off';
  /** `<namespace>/<Kind>/<name>` patterns (checked by config/env.ts). */
  MESHDRIFT_MESH_UNMANAGED_IGNORE: string[];
}

/** The settings from the validated environment (config/env.ts). */
export function meshWatchSettings(env: MeshEnv): MeshWatchSettings {
  return {
    ownership: { argocdNamespace: env.MESHDRIFT_ARGOCD_NAMESPACE, argocdInstanceLabel: env.MESHDRIFT_ARGOCD_INSTANCE_LABEL },
    evidence: {
      gitops: new Set(env.MESHDRIFT_MESH_GITOPS_MANAGERS),
      ignored: new Set(env.MESHDRIFT_MESH_IGNORE_MANAGERS),
      ...(env.MESHDRIFT_MESH_IGNORE_PATHS.length > 0 ? { ignorePaths: env.MESHDRIFT_MESH_IGNORE_PATHS } : {}),
    },
    unmanaged: { report: env.MESHDRIFT_MESH_UNMANAGED === 'report', ignore: env.MESHDRIFT_MESH_UNMANAGED_IGNORE.map(matcherOf) },
    maxObjects: env.MESHDRIFT_MESH_MAX_OBJECTS,
    namespaces: env.MESHDRIFT_MESH_NAMESPACES.length === 0 ? 'all' : env.MESHDRIFT_MESH_NAMESPACES,
  };
}
