import { z } from 'zod';
import { commitOfRevision, sanitizeRepoUrl } from '../../deliver/links.ts';
import { isObservedSource, type ResourceState, type Signal, type SignalSource } from '../../model/signal.ts';

/**
 * The parts of an `argoproj.io/v1alpha1` Application meshdrift reads (reference/argocd.md §1).
 * Unknown fields are dropped, not rejected: Argo CD adds fields between releases.
 * `omitempty` means absent booleans are false and absent strings empty.
 */
const resourceStatusSchema = z.object({
  group: z.string().optional(),
  version: z.string().optional(),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
  status: z.string().optional(),
  health: z.object({ status: z.string().optional(), message: z.string().optional() }).optional(),
  hook: z.boolean().optional(),
  requiresPruning: z.boolean().optional(),
});

/**
 * One source of an Application: only what a commit link needs. A malformed value is dropped (never
 * fails the app): the source is for links, not for drift.
 */
const appSourceSchema = z
  .object({
    repoURL: z.string().optional().catch(undefined),
    /** Set for a Helm repository source: its URL is a chart repository, not Git. */
    chart: z.string().optional().catch(undefined),
  })
  .optional()
  .catch(undefined);

export const applicationSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.object({
    name: z.string().min(1),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z
    .object({
      project: z.string().optional(),
      destination: z.object({ server: z.string().optional(), name: z.string().optional(), namespace: z.string().optional() }).optional(),
      source: appSourceSchema,
      sources: z.array(appSourceSchema).optional().catch(undefined),
    })
    .optional(),
  status: z
    .object({
      sync: z.object({ status: z.string().optional(), revision: z.string().optional(), revisions: z.array(z.string()).optional() }).optional(),
      health: z.object({ status: z.string().optional() }).optional(),
      resources: z.array(resourceStatusSchema).optional(),
      reconciledAt: z.string().optional(),
      conditions: z.array(z.object({ type: z.string(), message: z.string().optional() })).optional(),
    })
    .optional(),
});
export type Application = z.infer<typeof applicationSchema>;
type ResourceStatus = z.infer<typeof resourceStatusSchema>;

const UNHEALTHY = new Set(['Degraded', 'Missing']);

/**
 * One resource's drift state, from Argo CD's verdict (controller/state.go): OutOfSync with
 * requiresPruning is live-but-not-in-Git; OutOfSync with health Missing is in-Git-but-not-live;
 * other OutOfSync is a live edit. Hooks and untracked objects (no status) say nothing.
 */
export function resourceStateOf(r: ResourceStatus): ResourceState['state'] | null {
  if (r.hook === true) return null;
  const health = r.health?.status;
  switch (r.status) {
    case 'OutOfSync':
      if (r.requiresPruning === true) return 'Extraneous';
      return health === 'Missing' ? 'Missing' : 'Modified';
    case 'Synced':
      return health !== undefined && UNHEALTHY.has(health) ? 'Unhealthy' : 'InSync';
    default:
      return null;
  }
}

/**
 * When the snapshot holds. What meshdrift reads itself (watch, re-list, API poll) is timed by
 * meshdrift's clock when read, never by the object's `reconciledAt`. A webhook's is the sender's
 * `reconciledAt`, which ingest bounds to the receipt (track/ingest.ts senderTime).
 */
function observedAtOf(app: Application, source: SignalSource, now: number): number {
  if (isObservedSource(source)) return now;
  const reconciled = Date.parse(app.status?.reconciledAt ?? '');
  return Number.isFinite(reconciled) ? reconciled : now;
}

/** When Argo CD last compared the app with Git (`status.reconciledAt`), if it says. */
function comparedAtOf(app: Application): { comparedAt?: number } {
  const at = Date.parse(app.status?.reconciledAt ?? '');
  return Number.isFinite(at) && at >= 0 ? { comparedAt: at } : {};
}

/** Argo CD's own words for why it could not compare, e.g. a ComparisonError's message. */
const COMPARISON_CONDITIONS = ['ComparisonError', 'InvalidSpecError', 'UnknownError'];
const MAX_DETAIL = 300;

function unreachableApp(app: Application): ResourceState {
  const condition = app.status?.conditions?.find((c) => COMPARISON_CONDITIONS.includes(c.type) && c.message);
  const reason = condition?.message ? `${condition.type}: ${condition.message}` : 'Argo CD could not compare the app with Git (sync Unknown)';
  return {
    group: 'argoproj.io',
    kind: 'Application',
    namespace: app.metadata.namespace ?? '',
    name: app.metadata.name,
    state: 'Unreachable',
    detail: reason.length > MAX_DETAIL ? `${reason.slice(0, MAX_DETAIL - 1)}…` : reason,
  };
}

const MAX_SOURCES = 50;

/**
 * The Git repository of the app's revision, for commit links: `spec.source.repoURL`, or (when
 * `spec.sources` is set, which Argo CD then uses) among `spec.sources[]` the first Git source (not a Helm chart repository) whose revision in
 * `status.sync.revisions` (same order) is a commit, else the first Git source. Credentials are
 * dropped and only http(s)/ssh URLs kept (deliver/links.ts sanitizeRepoUrl).
 */
export function repoURLOf(app: Application): string | undefined {
  const sources = (app.spec?.sources ?? []).slice(0, MAX_SOURCES);
  // Argo CD uses `sources` whenever it is not empty (Spec.HasMultipleSources), else `source`.
  if (sources.length === 0) {
    const single = app.spec?.source;
    return single?.repoURL !== undefined && single.chart === undefined ? sanitizeRepoUrl(single.repoURL) : undefined;
  }
  const revisions = app.status?.sync?.revisions ?? [];
  const git = sources.flatMap((src, i) => (src?.repoURL !== undefined && src.chart === undefined ? [{ url: src.repoURL, revision: revisions[i] }] : []));
  const chosen = git.find((g) => commitOfRevision(g.revision) !== undefined) ?? git[0];
  return chosen === undefined ? undefined : sanitizeRepoUrl(chosen.url);
}

export interface ApplicationContext {
  cluster: string;
  source: SignalSource;
  now: number;
}

/**
 * An Application is a full snapshot of its resources, so what is no longer drifted resolves.
 * Except when Argo CD could not compare (sync Unknown, e.g. ComparisonError): then every resource
 * is Unknown and the snapshot says nothing, so it is downgraded to partial and resolves nothing;
 * instead the app itself becomes one `Unreachable` finding (with Argo CD's reason), which holds
 * back the app's other alerts (config/load.ts BUILTIN_INHIBIT_RULES) and resolves with the next
 * real snapshot.
 */
export function applicationToSignal(app: Application, ctx: ApplicationContext): Signal {
  const syncStatus = app.status?.sync?.status;
  const sync = syncStatus === 'Synced' || syncStatus === 'OutOfSync' || syncStatus === 'Unknown' ? syncStatus : undefined;
  const resources: ResourceState[] = [];
  for (const r of app.status?.resources ?? []) {
    const state = resourceStateOf(r);
    if (state === null) continue;
    resources.push({
      group: r.group ?? '',
      kind: r.kind,
      namespace: r.namespace ?? '',
      name: r.name,
      state,
      ...(state === 'Unhealthy' || state === 'Missing' ? { detail: `health ${r.health?.status ?? ''}`.trim() } : {}),
    });
  }
  if (sync === 'Unknown') resources.push(unreachableApp(app));
  const revision = app.status?.sync?.revision ?? app.status?.sync?.revisions?.join(',');
  const repoURL = repoURLOf(app);
  const destination = app.spec?.destination;
  return {
    source: ctx.source,
    cluster: ctx.cluster,
    owner: { kind: 'Application', namespace: app.metadata.namespace ?? '', name: app.metadata.name },
    project: app.spec?.project || 'default',
    labels: app.metadata.labels ?? {},
    destination: {
      ...(destination?.name ? { name: destination.name } : destination?.server ? { name: destination.server } : {}),
      ...(destination?.namespace ? { namespace: destination.namespace } : {}),
    },
    ...(revision ? { revision } : {}),
    ...(repoURL === undefined ? {} : { repoURL }),
    ...(sync ? { sync } : {}),
    ...(app.status?.health?.status ? { health: app.status.health.status } : {}),
    observedAt: observedAtOf(app, ctx.source, ctx.now),
    ...comparedAtOf(app),
    completeness: sync === 'Unknown' || sync === undefined ? 'partial' : 'snapshot',
    resources,
  };
}
