import { z } from 'zod';
import type { OwnerRef } from '../model/signal.ts';
import { redact, type ActionFailure, type RemediationClient } from './action.ts';
import { parseJsonAs } from '../model/json.ts';
import { transportFailure } from '../net/http.ts';
import type { KubeHttp } from './kube-http.ts';

/**
 * Asks Flux to reconcile a Kustomization or HelmRelease the way `flux reconcile` does (reference
 * flux.md §5): a JSON merge patch of `reconcile.fluxcd.io/requestedAt`, refused while the object is
 * suspended. `observe` follows `status.lastHandledReconcileAt` and Ready: the verify step (verify.ts).
 */

// The transports live in kube-http.ts; re-exported for the callers that knew them here.
export { createAxiosKubeHttp, type AxiosKubeHttpOptions, type KubeHttp } from './kube-http.ts';

export interface FluxReconcileClientOptions {
  http: KubeHttp;
  /** Clock for the requestedAt token. */
  now: () => number;
  /** Redacted from every reason, in case the API server echoes it. */
  token?: string;
  /**
   * Annotate the owner's source first, with the same requestedAt, as `flux reconcile … --with-source`
   * does: the source fetches Git (or the chart) now instead of at its next interval.
   */
  sourceFirst?: boolean;
}

/** The annotation Flux watches; any new value queues a reconcile. */
export const REQUESTED_AT_ANNOTATION = 'reconcile.fluxcd.io/requestedAt';

const KINDS: Readonly<Record<string, { group: string; version: string; plural: string }>> = {
  Kustomization: { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations' },
  HelmRelease: { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases' },
};

// A Kubernetes Status (errors) and the part of a Flux object meshdrift reads.
const statusSchema = z.object({ message: z.string().optional(), reason: z.string().optional() });
const sourceRefSchema = z.object({ kind: z.string(), name: z.string(), namespace: z.string().nullish() });
const fluxObjectSchema = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().nullish(), annotations: z.record(z.string(), z.string()).nullish() }),
  spec: z
    .object({
      suspend: z.boolean().nullish(),
      // Kustomization
      sourceRef: sourceRefSchema.nullish(),
      // HelmRelease: a chart template (its HelmChart is generated), or a reference to an existing chart source
      chart: z.object({ spec: z.object({ sourceRef: sourceRefSchema.nullish() }).nullish() }).nullish(),
      chartRef: sourceRefSchema.nullish(),
    })
    .nullish(),
  status: z
    .object({
      // HelmRelease: the generated HelmChart, "<namespace>/<name>"
      helmChart: z.string().nullish(),
      lastHandledReconcileAt: z.string().nullish(),
      conditions: z.array(z.object({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() })).nullish(),
    })
    .nullish(),
});
type FluxObject = z.infer<typeof fluxObjectSchema>;

/** Go's time.RFC3339Nano of an epoch-ms time: fraction without trailing zeros, none when zero. */
export function rfc3339Nano(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-24T10:00:00.120Z
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac === '' ? 'Z' : `.${frac}Z`));
}

// The source kinds `flux reconcile --with-source` annotates, at the versions every Flux 2.x since
// 2.3 serves (OCIRepository and Bucket went v1 later; v1beta2 is still served).
const SOURCE_KINDS: Readonly<Record<string, { version: string; plural: string }>> = {
  GitRepository: { version: 'v1', plural: 'gitrepositories' },
  HelmChart: { version: 'v1', plural: 'helmcharts' },
  HelmRepository: { version: 'v1', plural: 'helmrepositories' },
  OCIRepository: { version: 'v1beta2', plural: 'ocirepositories' },
  Bucket: { version: 'v1beta2', plural: 'buckets' },
};

/** The source of a Flux owner as `flux reconcile --with-source` finds it. */
export interface FluxSourceRef {
  kind: string;
  namespace: string;
  name: string;
}

/**
 * The source to reconcile before a Kustomization or HelmRelease, or null when it names none:
 * a Kustomization's `spec.sourceRef`; a HelmRelease's `spec.chartRef` (OCIRepository or HelmChart),
 * else its generated HelmChart (`status.helmChart`, as the CLI does), else the chart template's
 * `spec.chart.spec.sourceRef` (before the first reconcile created the HelmChart). A reference
 * without a namespace is in the owner's namespace.
 */
export function fluxSourceOf(owner: OwnerRef, obj: FluxObject): FluxSourceRef | null {
  const ref = (r: z.infer<typeof sourceRefSchema> | null | undefined): FluxSourceRef | null =>
    r ? { kind: r.kind, namespace: r.namespace ?? owner.namespace, name: r.name } : null;
  if (owner.kind === 'Kustomization') return ref(obj.spec?.sourceRef);
  if (obj.spec?.chartRef) return ref(obj.spec.chartRef);
  const chart = obj.status?.helmChart?.split('/');
  if (chart?.length === 2 && chart[0] && chart[1]) return { kind: 'HelmChart', namespace: chart[0], name: chart[1] };
  return ref(obj.spec?.chart?.spec?.sourceRef);
}

/** The API path of a Flux source, or null for a kind that is not a source.toolkit.fluxcd.io one. */
export function fluxSourcePath(source: FluxSourceRef): string | null {
  const k = SOURCE_KINDS[source.kind];
  if (k === undefined || source.namespace === '') return null;
  return `/apis/source.toolkit.fluxcd.io/${k.version}/namespaces/${encodeURIComponent(source.namespace)}/${k.plural}/${encodeURIComponent(source.name)}`;
}

/** The API path of a Flux owner, or null for a kind meshdrift cannot reconcile. */
export function fluxObjectPath(owner: OwnerRef): string | null {
  const k = KINDS[owner.kind];
  if (k === undefined || owner.namespace === '') return null;
  return `/apis/${k.group}/${k.version}/namespaces/${encodeURIComponent(owner.namespace)}/${k.plural}/${encodeURIComponent(owner.name)}`;
}

/** The merge patch `flux reconcile` sends. */
export function reconcilePatch(requestedAt: string): string {
  return JSON.stringify({ metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: requestedAt } } });
}

/** An HTTP error answer of the API server as a failure: auth, RBAC and not found are final, the rest retried. */
function mapHttpError(
  fail: (kind: ActionFailure['kind'], retryable: boolean, reason: string) => ActionFailure,
  status: number,
  body: string,
  what: string,
): ActionFailure {
  const said = statusMessage(body);
  const detail = said === '' ? '' : `: ${said}`;
  if (status === 401) return fail('rejected', false, `flux ${what}: HTTP 401, the token was rejected${detail}`);
  if (status === 403) return fail('rejected', false, `flux ${what}: HTTP 403, forbidden (RBAC needs get and patch)${detail}`);
  if (status === 404) return fail('rejected', false, `flux ${what}: HTTP 404, not found${detail}`);
  if (status === 408 || status === 409 || status === 429 || status >= 500) return fail('unavailable', true, `flux ${what}: HTTP ${status}${detail}`);
  return fail('rejected', false, `flux ${what}: HTTP ${status}${detail}`);
}

/** Flux reconcile requests as a {@link RemediationClient}. Never throws. */
export function createFluxReconcileClient(opts: FluxReconcileClientOptions): RemediationClient {
  const fail = (kind: ActionFailure['kind'], retryable: boolean, reason: string): ActionFailure => ({
    ok: false,
    kind,
    retryable,
    reason: redact(reason, opts.token ?? ''),
  });

  const mapError = (status: number, body: string, what: string): ActionFailure => mapHttpError(fail, status, body, what);

  async function read(owner: OwnerRef, path: string): Promise<{ ok: true; suspended: boolean; obj: FluxObject } | ActionFailure> {
    const what = `read of ${owner.kind} ${owner.namespace}/${owner.name}`;
    let res: { status: number; body: string };
    try {
      res = await opts.http.request({ method: 'GET', path });
    } catch (error) {
      return fail('unavailable', true, `flux ${what}: ${transportFailure(error)}`);
    }
    if (res.status < 200 || res.status >= 300) return mapError(res.status, res.body, what);
    const obj = parseJsonAs(fluxObjectSchema, res.body);
    if (obj === undefined) return fail('rejected', false, `flux ${what}: the answer is not a ${owner.kind}`);
    return { ok: true, suspended: obj.spec?.suspend === true, obj };
  }

  // The merge patch of the annotation on one object; the answer must be that object.
  async function patch(path: string, requestedAt: string, what: string, kind: string): Promise<{ ok: true } | ActionFailure> {
    let res: { status: number; body: string };
    try {
      res = await opts.http.request({ method: 'PATCH', path, body: reconcilePatch(requestedAt), contentType: 'application/merge-patch+json' });
    } catch (error) {
      return fail('unavailable', true, `flux ${what}: ${transportFailure(error)}`);
    }
    if (res.status < 200 || res.status >= 300) return mapError(res.status, res.body, what);
    if (parseJsonAs(fluxObjectSchema, res.body) === undefined)
      return fail('rejected', false, `flux ${what}: HTTP ${res.status} but the answer is not a ${kind}`);
    return { ok: true };
  }

  return {
    async inspect(owner) {
      const path = fluxObjectPath(owner);
      if (path === null) return fail('rejected', false, `flux cannot reconcile a ${owner.kind}`);
      const got = await read(owner, path);
      if (!got.ok) return got;
      // The namespace as read: the object at that path (the owner's namespace, never the webhook's word for where it deploys).
      return {
        ok: true,
        state: { inProgress: false, suspended: got.suspended, synced: [], scope: { namespace: got.obj.metadata.namespace ?? owner.namespace } },
      };
    },
    async remediate(req) {
      const { owner } = req;
      const path = fluxObjectPath(owner);
      if (path === null) return fail('rejected', false, `flux cannot reconcile a ${owner.kind}`);
      // GET first, as the CLI does: a suspended object is refused, not patched.
      const got = await read(owner, path);
      if (!got.ok) return got;
      if (got.suspended)
        return fail('suspended', false, `flux ${owner.kind} ${owner.namespace}/${owner.name} is suspended (spec.suspend: true); resume it to reconcile`);
      const requestedAt = rfc3339Nano(opts.now());
      let sourceNote = '';
      if (opts.sourceFirst === true) {
        const source = fluxSourceOf(owner, got.obj);
        const sourcePath = source === null ? null : fluxSourcePath(source);
        if (source === null || sourcePath === null) {
          return fail(
            'rejected',
            false,
            `flux ${owner.kind} ${owner.namespace}/${owner.name}: source_first is set but its source ${source === null ? 'is not named' : `kind ${source.kind} is not a Flux source`}`,
          );
        }
        const sourced = await patch(
          sourcePath,
          requestedAt,
          `reconcile request for ${source.kind} ${source.namespace}/${source.name} (the source of ${owner.kind} ${owner.namespace}/${owner.name})`,
          source.kind,
        );
        if (!sourced.ok) return sourced;
        sourceNote = ` (source ${source.kind} ${source.namespace}/${source.name} first)`;
      }
      const done = await patch(path, requestedAt, `reconcile request for ${owner.kind} ${owner.namespace}/${owner.name}`, owner.kind);
      if (!done.ok) return done;
      return { ok: true, detail: `flux reconcile requested at ${requestedAt}${sourceNote}`, requestedAt };
    },
    // `flux reconcile` waits the same way: lastHandledReconcileAt echoes the token, then Ready.
    async observe(owner, target) {
      const path = fluxObjectPath(owner);
      if (path === null) return fail('rejected', false, `flux cannot reconcile a ${owner.kind}`);
      const got = await read(owner, path);
      if (!got.ok) return got;
      const handled = target.requestedAt !== undefined && got.obj.status?.lastHandledReconcileAt === target.requestedAt;
      const ready = (got.obj.status?.conditions ?? []).find((c) => c.type === 'Ready');
      if (!handled || ready === undefined || ready.status === 'Unknown') return { ok: true, observation: { pending: true, synced: [] } };
      if (ready.status === 'True') return { ok: true, observation: { pending: false, synced: [...target.resources] } };
      const said = [ready.reason, ready.message]
        .filter((p): p is string => p !== undefined && p !== '')
        .join(': ')
        .slice(0, 200);
      return { ok: true, observation: { pending: false, synced: [], failed: redact(`not Ready${said === '' ? '' : ` (${said})`}`, opts.token ?? '') } };
    },
  };
}

function statusMessage(body: string): string {
  const s = parseJsonAs(statusSchema, body);
  return (s?.message ?? '').slice(0, 300);
}
