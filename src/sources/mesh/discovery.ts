import { ApisApi, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import type { CatalogEntry } from '../../classify/catalog.ts';
import { withTimeout } from '../../net/with-timeout.ts';

/**
 * Which of the catalog's mesh kinds a cluster serves, and where (issue #16): the API discovery
 * `kubectl api-resources` reads. `/apis` gives each group's preferred version; that version's
 * resource list gives each kind's plural and scope. A kind whose CRD is not installed is simply not
 * in the answer (the caller looks again later); a group whose version list fails is reported.
 */

export interface MeshResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const groupListSchema = z.object({
  groups: z
    .array(
      z.object({
        name: z.string(),
        preferredVersion: z.object({ version: z.string() }).optional(),
        versions: z.array(z.object({ version: z.string() })).default([]),
      }),
    )
    .max(2_000)
    .default([]),
});

const resourceListSchema = z.object({
  resources: z
    .array(z.object({ name: z.string(), kind: z.string(), namespaced: z.boolean().default(true), verbs: z.array(z.string()).default([]) }))
    .max(5_000)
    .default([]),
});

export interface Discovered {
  resources: MeshResource[];
  /** Groups whose resource list could not be read (`group/version: error`). */
  errors: string[];
}

const message = (err: unknown): string => (err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)).slice(0, 300);

/** The served mesh resources of the catalog's kinds in the cluster `kc` reaches. Throws when `/apis` fails. */
export async function discoverMeshResources(kc: KubeConfig, catalog: readonly CatalogEntry[], timeoutMs: number): Promise<Discovered> {
  const wanted = new Map<string, Set<string>>();
  for (const e of catalog) {
    if (e.group === '') continue;
    const kinds = wanted.get(e.group) ?? new Set<string>();
    kinds.add(e.kind);
    wanted.set(e.group, kinds);
  }
  const apis = kc.makeApiClient(ApisApi);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const groups = groupListSchema.parse(await withTimeout(apis.getAPIVersions(), timeoutMs, 'discovery /apis')).groups;
  const resources: MeshResource[] = [];
  const errors: string[] = [];
  for (const g of groups) {
    const kinds = wanted.get(g.name);
    const version = g.preferredVersion?.version ?? g.versions[0]?.version;
    if (kinds === undefined || version === undefined) continue;
    try {
      const list = resourceListSchema.parse(await withTimeout(custom.getAPIResources({ group: g.name, version }), timeoutMs, `discovery ${g.name}/${version}`));
      for (const r of list.resources) {
        // Subresources (`virtualservices/status`) and kinds that cannot be watched are not listed.
        if (r.name.includes('/') || !kinds.has(r.kind) || !r.verbs.includes('watch')) continue;
        resources.push({ group: g.name, version, plural: r.name, kind: r.kind, namespaced: r.namespaced });
      }
    } catch (err) {
      errors.push(`${g.name}/${version}: ${message(err)}`);
    }
  }
  return { resources, errors };
}
