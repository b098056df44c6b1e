import { z } from 'zod';
import { ignoreRulesSchema } from '../argocd/app-index.ts';
import { applicationSchema, resourceStateOf } from '../argocd/application.ts';
import { driftDetectionSchema } from '../flux/drift-ignore.ts';

/**
 * What meshdrift keeps in memory of each watched object. Informers cache every object they see, so
 * each one is parsed into one of these slim shapes before the cache holds it: managedFields, specs,
 * history and annotations that nobody reads are gone (issue #5: 2,000 Applications of 200
 * resources in at most 300 MB). zod objects drop unknown keys, which is the stripping.
 */

const conditionSchema = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});
export type SlimCondition = z.infer<typeof conditionSchema>;

const metadataSchema = z.object({
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

/**
 * The Application fields `applicationToSignal` reads (applicationSchema), its bounded
 * `spec.ignoreDifferences` (the mesh watch's diff honours them: sources/argocd/app-index.ts), and
 * of its resources only those that say something: drifted or unhealthy. An InSync resource says nothing its absence
 * from a snapshot does not (classify skips them), and a watched app keeps ~200 of them for ~4
 * drifted ones: 40 KB of cache per app instead of 2.6 KB (bench/watch-memory.ts).
 */
export const slimApplicationSchema = applicationSchema
  .extend({ spec: applicationSchema.shape.spec.unwrap().extend({ ignoreDifferences: ignoreRulesSchema }).optional() })
  .transform((app) => {
    const resources = app.status?.resources;
    if (resources === undefined || app.status === undefined) return app;
    return {
      ...app,
      status: {
        ...app.status,
        resources: resources.filter((r) => {
          const s = resourceStateOf(r);
          return s !== null && s !== 'InSync';
        }),
      },
    };
  });
export type SlimApplication = z.infer<typeof slimApplicationSchema>;

/** Only `id` of inventory entries (`<ns>_<name>_<group>_<kind>`, flux.md §3.3); `v` is not needed. */
const inventorySchema = z.object({ entries: z.array(z.object({ id: z.string() })).optional() });

const fluxStatusSchema = z.object({
  observedGeneration: z.number().optional(),
  conditions: z.array(conditionSchema).optional(),
  lastAppliedRevision: z.string().optional(),
  lastAttemptedRevision: z.string().optional(),
  inventory: inventorySchema.nullable().optional(),
});

/** `kustomize.toolkit.fluxcd.io/v1` Kustomization: metadata, conditions, revisions, inventory. */
export const slimKustomizationSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: metadataSchema,
  status: fluxStatusSchema.optional(),
});
export type SlimKustomization = z.infer<typeof slimKustomizationSchema>;

/**
 * `helm.toolkit.fluxcd.io/v2` HelmRelease: the same status parts (the Drifted condition is among
 * them) and `spec.driftDetection` (mode, bounded ignore rules: sources/flux/drift-ignore.ts), whose
 * ignore paths the mesh watch honours.
 */
export const slimHelmReleaseSchema = slimKustomizationSchema.extend({
  spec: z.object({ driftDetection: driftDetectionSchema }).optional().catch(undefined),
});
export type SlimHelmRelease = z.infer<typeof slimHelmReleaseSchema>;

// Typed list calls (CoreV1Api) turn timestamps into Date; watch events carry the wire strings.
const timestamp = z
  .union([z.string(), z.date()])
  .nullable()
  .optional()
  .transform((v) => (v instanceof Date ? v.toISOString() : (v ?? undefined)));

// Annotations Flux recorders put on core Events (`<group>/revision`, `event.toolkit.fluxcd.io/*`);
// anything else (kubectl's last-applied configuration...) is not kept.
const FLUX_ANNOTATION = /^(?:[a-z0-9.-]+\.toolkit\.fluxcd\.io)\//;

/** A core/v1 Event, as kustomize-controller and helm-controller record them. */
export const slimEventSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.object({
    name: z.string().min(1),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    annotations: z
      .record(z.string(), z.string())
      .optional()
      .transform((a) => (a === undefined ? undefined : Object.fromEntries(Object.entries(a).filter(([k]) => FLUX_ANNOTATION.test(k))))),
  }),
  involvedObject: z.object({
    kind: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    uid: z.string().optional(),
    apiVersion: z.string().optional(),
  }),
  reason: z.string().optional(),
  message: z.string().optional(),
  type: z.string().optional(),
  source: z.object({ component: z.string().optional() }).nullable().optional(),
  reportingComponent: z.string().optional(),
  reportingInstance: z.string().optional(),
  firstTimestamp: timestamp,
  lastTimestamp: timestamp,
  eventTime: timestamp,
  count: z.number().optional(),
});
export type SlimEvent = z.infer<typeof slimEventSchema>;

export type SlimResult<T> = { ok: true; object: T } | { ok: false; error: string };

/** Parses with `schema`; the error names the first few failing paths. */
export function slim<T>(schema: z.ZodType<T>, raw: unknown): SlimResult<T> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, object: parsed.data };
  const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  return { ok: false, error: issues.join('; ') };
}
