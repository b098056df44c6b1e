import { z } from 'zod';
import { lenientList } from '../../model/json.ts';
import type { OwnerRef } from '../../model/signal.ts';

/**
 * A HelmRelease's `spec.driftDetection.ignore[]` (helm-controller docs/spec/v2/helmreleases.md "Drift
 * detection"; reference flux.md §4.1): JSON pointers helm-controller leaves out of its drift
 * detection, for every object of the release or for those a `target` selects. The mesh watch leaves
 * the same paths out of its diff of the objects that HelmRelease owns (issue #16). Kept from the
 * HelmRelease watch's cache (sources/kube/slim.ts), bounded: MAX_RULES rules of MAX_PATHS paths.
 *
 * `target`: `group`, `version`, `kind`, `name`, `namespace` are regular expressions matched against
 * the whole value (kustomize's Selector); `labelSelector` and `annotationSelector` cannot be
 * evaluated (the watch keeps no labels or annotations of mesh objects): such a rule is not applied.
 */

export const MAX_RULES = 50;
export const MAX_PATHS = 50;
const MAX_PATTERN = 256;

const pattern = z.string().max(MAX_PATTERN).optional().catch(undefined);

const ruleSchema = z.object({
  paths: z
    .array(z.unknown())
    .optional()
    .catch(undefined)
    .transform((a) => (a ?? []).filter((p): p is string => typeof p === 'string' && p.startsWith('/') && p.length <= 1024).slice(0, MAX_PATHS)),
  target: z
    .object({
      group: pattern,
      version: pattern,
      kind: pattern,
      name: pattern,
      namespace: pattern,
      labelSelector: z.string().optional().catch('?'),
      annotationSelector: z.string().optional().catch('?'),
    })
    .optional(),
});
export type HelmIgnoreRule = z.infer<typeof ruleSchema>;

/** `spec.driftDetection`: its mode and bounded ignore rules; a malformed rule is dropped, never the release. */
export const driftDetectionSchema = z
  .object({
    mode: z.string().max(32).optional().catch(undefined),
    ignore: lenientList(ruleSchema, MAX_RULES),
  })
  .optional()
  .catch(undefined);

/** Anchored, as kustomize compiles selector fields; an invalid expression matches nothing. */
function matches(re: string | undefined, value: string): boolean {
  if (re === undefined || re === '') return true;
  try {
    return new RegExp(`^(?:${re})$`).test(value);
  } catch {
    return false;
  }
}

/** The JSON pointers of the rules that apply to one object of the release. */
export function helmIgnoredPointers(
  rules: readonly HelmIgnoreRule[],
  obj: { group: string; version: string; kind: string; namespace: string; name: string },
): string[] {
  const out: string[] = [];
  for (const { paths, target: t } of rules) {
    if (t !== undefined) {
      if (t.labelSelector !== undefined || t.annotationSelector !== undefined) continue;
      if (!matches(t.group, obj.group) || !matches(t.version, obj.version) || !matches(t.kind, obj.kind)) continue;
      if (!matches(t.name, obj.name) || !matches(t.namespace, obj.namespace)) continue;
    }
    out.push(...paths);
  }
  return out;
}

/** The HelmReleases' ignore rules per cluster, fed by the HelmRelease watch. Bounded by MAX_RELEASES. */
export interface HelmIgnoreIndex {
  put(
    cluster: string,
    hr: { metadata: { namespace?: string | undefined; name: string }; spec?: { driftDetection?: z.infer<typeof driftDetectionSchema> } | undefined },
  ): void;
  remove(cluster: string, hr: { metadata: { namespace?: string | undefined; name: string } }): void;
  lookup(cluster: string, owner: OwnerRef): readonly HelmIgnoreRule[];
  size(): number;
}

export const MAX_RELEASES = 20_000;

export function createHelmIgnoreIndex(): HelmIgnoreIndex {
  const rules = new Map<string, readonly HelmIgnoreRule[]>();
  const key = (cluster: string, namespace: string, name: string): string => JSON.stringify([cluster, namespace, name]);
  return {
    put(cluster, hr) {
      const k = key(cluster, hr.metadata.namespace ?? '', hr.metadata.name);
      const list = hr.spec?.driftDetection?.ignore ?? [];
      if (list.length === 0) return void rules.delete(k);
      if (!rules.has(k) && rules.size >= MAX_RELEASES) return;
      rules.set(k, list);
    },
    remove(cluster, hr) {
      rules.delete(key(cluster, hr.metadata.namespace ?? '', hr.metadata.name));
    },
    lookup(cluster, owner) {
      return owner.kind === 'HelmRelease' ? (rules.get(key(cluster, owner.namespace, owner.name)) ?? []) : [];
    },
    size: () => rules.size,
  };
}
