import { z } from 'zod';
import { attributionsSchema, changeListSchema } from './forensics.ts';
import { severitySchema } from './severity.ts';
import { driftStateSchema, ownerRefSchema, resourceRefSchema, TOOLS } from './signal.ts';

export const CATEGORIES = ['security', 'traffic', 'observability', 'mesh-control', 'non-mesh'] as const;
export const categorySchema = z.enum(CATEGORIES);
export type Category = z.infer<typeof categorySchema>;

export const findingSchema = z.object({
  /** Stable hash of cluster, tool, owner and resource identity (model/fingerprint.ts). */
  fingerprint: z.string(),
  /** Alert group this copy of the finding belongs to (set by track/grouping.ts; '' before). */
  groupKey: z.string(),
  /** Identities of the routes the finding reached (`route`, `name:…`, `content:…`: route/route.ts). */
  routes: z.array(z.string()).optional(),
  cluster: z.string(),
  tool: z.enum(TOOLS),
  owner: ownerRefSchema,
  project: z.string(),
  resource: resourceRefSchema,
  state: driftStateSchema,
  category: categorySchema,
  /** Mesh the kind belongs to (istio, linkerd, gateway-api, …) or 'none'. */
  mesh: z.string(),
  severity: severitySchema,
  receivers: z.array(z.string()),
  /**
   * Why the policy keeps this finding out of notifications: tracked, listed by the API and
   * `explain`, never sent (track/decide.ts). `non-mesh`: drift of a kind outside the mesh catalog,
   * and the policy has no `notify_non_mesh: true` (classify/classify.ts). Absent: notified.
   */
  unnotified: z.enum(['non-mesh']).optional(),
  /** Labels policy rules added (`set.labels`); routes, silences and receivers see them. */
  labels: z.record(z.string(), z.string()).optional(),
  /**
   * The policy rules' `annotations` rendered over the finding's labels (classify/annotations.ts):
   * summary, description, runbook_url (http(s) only), team and the team's own keys. Raw text,
   * bounded when written (16 keys of 2,000 characters; read leniently); receivers escape it.
   */
  annotations: z.record(z.string().max(63), z.string().max(4_000)).optional(),
  /** Why it got this severity and these receivers; `explain` prints these. */
  reasons: z.array(z.string()),
  detail: z.string().optional(),
  revision: z.string().optional(),
  /** The Git repository of `revision`, for links (model/signal.ts). */
  repoURL: z.string().optional(),
  /** What changed, field by field, redacted (model/forensics.ts). */
  changes: changeListSchema.optional(),
  /** Who changed it, redacted; a person only from an admission record. */
  attribution: attributionsSchema.optional(),
  /** Epoch ms at which the source observed it. */
  observedAt: z.number(),
});
/** A drifted resource, classified. */
export type Finding = z.infer<typeof findingSchema>;

/**
 * The `alertname` of every meshdrift alert, as Alertmanager, amtool, karma and Grafana see it
 * (the Alertmanager receiver and /api/v2). Silences match it too, so a silence made from an alert's
 * labels (`alertname="MeshDrift", …`) silences that alert.
 */
export const ALERTNAME = 'MeshDrift';

/** Label names every finding carries; matchers (routes, silences, inhibition) use these. */
export const FINDING_LABELS = [
  'cluster',
  'tool',
  'project',
  'owner_kind',
  'owner_namespace',
  'owner',
  'group',
  'kind',
  'namespace',
  'name',
  'state',
  'category',
  'mesh',
  'severity',
] as const;
export type FindingLabel = (typeof FINDING_LABELS)[number];

/**
 * A finding as a flat label set, Alertmanager style. `owner` is the owner's name (the Argo CD app or
 * Flux object); `group`/`kind`/`namespace`/`name` are the drifted resource's.
 */
export function findingLabels(
  f: Pick<Finding, 'cluster' | 'tool' | 'project' | 'owner' | 'resource' | 'state' | 'category' | 'mesh' | 'severity'> & {
    labels?: Readonly<Record<string, string>> | undefined;
  },
): Record<string, string> {
  return {
    ...f.labels,
    cluster: f.cluster,
    tool: f.tool,
    project: f.project,
    owner_kind: f.owner.kind,
    owner_namespace: f.owner.namespace,
    owner: f.owner.name,
    group: f.resource.group,
    kind: f.resource.kind,
    namespace: f.resource.namespace,
    name: f.resource.name,
    state: f.state,
    category: f.category,
    mesh: f.mesh,
    severity: f.severity,
  };
}
