import { z } from 'zod';
import type { OwnerRef } from '../model/signal.ts';
import { redact, type ActionFailure, type RemediationClient, type RemediationRequest } from './action.ts';
import { parseJsonAs } from '../model/json.ts';
import { transportFailure } from '../net/http.ts';
import {
  applicationObservation,
  applicationSchema,
  applicationSpecSchema,
  applicationTarget,
  MESHDRIFT_USERNAME,
  operationInProgress,
  syncedResources,
} from './argocd-sync.ts';
import type { KubeHttp } from './kube-http.ts';

/**
 * Syncs an Argo CD Application through the Kubernetes API, for clusters where meshdrift cannot
 * reach the Argo CD API server (reference argocd.md "Sync via the Kubernetes API"): a JSON merge
 * patch of the top-level `operation` field, built as Argo CD's own Sync handler builds it
 * (server/application/application.go `Sync`). Without the API server there is no in-progress check
 * and no sync-window check on the way in, so this client does the first itself (refuses while
 * `.operation` is set, and pins `metadata.resourceVersion` so a racing writer gets a 409), and the
 * controller still honours windows (the operation then waits; the verify step reports it).
 */

export interface ArgoCdOperationClientOptions {
  http: KubeHttp;
  /** Argo CD's namespace, for an owner whose namespace is unknown; default `argocd`. */
  controlPlaneNamespace?: string;
  /** Wait suggested while another operation is set or running; default 30 s. */
  inProgressRetryMs?: number;
}

/** The Operation meshdrift writes (v1alpha1 Operation/SyncOperation, JSON names). */
export interface ArgoCdOperation {
  sync: {
    prune: boolean;
    resources: { group?: string; kind: string; name: string; namespace?: string }[];
    syncOptions?: string[];
  };
  initiatedBy: { username: string; automated: boolean };
  info: { name: string; value: string }[];
  retry?: unknown;
}

const DEFAULT_IN_PROGRESS_RETRY_MS = 30_000;
const MAX_INFO = 250;

// The Application as the Kubernetes API returns it: what argocd-sync reads, plus what the
// operation is built from and guarded by.
const kubeApplicationSchema = applicationSchema.extend({
  metadata: z.object({ name: z.string(), namespace: z.string().optional(), resourceVersion: z.string().optional(), deletionTimestamp: z.string().nullish() }),
  spec: applicationSpecSchema
    .extend({ syncPolicy: z.object({ syncOptions: z.array(z.string()).nullish(), retry: z.unknown().optional() }).nullish() })
    .nullish(),
});
type KubeApplication = z.infer<typeof kubeApplicationSchema>;

const statusSchema = z.object({ message: z.string().optional() });

/**
 * The `operation` of a partial sync of `req.resources`, as the API server's Sync handler would set
 * it for `argocd app sync --resource …`: no revision (the controller syncs to the spec's
 * targetRevision), the Application's own syncOptions and retry (the handler copies them from
 * spec.syncPolicy), no sync strategy (the controller's default, hook), group and namespace left
 * out when empty (omitempty). `automated: false` makes it a manual sync for `manualSync` windows.
 */
export function operationFor(req: RemediationRequest, app: Pick<KubeApplication, 'spec'>): ArgoCdOperation {
  const syncOptions = app.spec?.syncPolicy?.syncOptions ?? [];
  const retry = app.spec?.syncPolicy?.retry;
  return {
    sync: {
      prune: req.prune,
      resources: req.resources.map((r) => ({
        ...(r.group === '' ? {} : { group: r.group }),
        kind: r.kind,
        name: r.name,
        ...(r.namespace === '' ? {} : { namespace: r.namespace }),
      })),
      ...(syncOptions.length > 0 ? { syncOptions: [...syncOptions] } : {}),
    },
    initiatedBy: { username: MESHDRIFT_USERNAME, automated: false },
    info: [{ name: 'reason', value: req.reason.slice(0, MAX_INFO) }],
    ...(retry === undefined || retry === null ? {} : { retry }),
  };
}

/** The merge patch: the operation, pinned to the resourceVersion that was read without one. */
export function operationPatch(operation: ArgoCdOperation, resourceVersion: string | undefined): string {
  return JSON.stringify({ ...(resourceVersion === undefined ? {} : { metadata: { resourceVersion } }), operation });
}

/** Argo CD Applications through the Kubernetes API as a {@link RemediationClient}. Never throws. */
export function createArgoCdOperationClient(opts: ArgoCdOperationClientOptions): RemediationClient {
  const cpNamespace = opts.controlPlaneNamespace ?? 'argocd';
  const inProgressRetryMs = opts.inProgressRetryMs ?? DEFAULT_IN_PROGRESS_RETRY_MS;
  const fail = (kind: ActionFailure['kind'], retryable: boolean, reason: string, retryAfterMs?: number): ActionFailure => ({
    ok: false,
    kind,
    retryable,
    reason: redact(reason, ''),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
  const nsOf = (owner: OwnerRef): string => (owner.namespace === '' ? cpNamespace : owner.namespace);
  const pathOf = (owner: OwnerRef): string =>
    `/apis/argoproj.io/v1alpha1/namespaces/${encodeURIComponent(nsOf(owner))}/applications/${encodeURIComponent(owner.name)}`;
  const label = (owner: OwnerRef): string => `Application ${nsOf(owner)}/${owner.name}`;

  function mapError(status: number, body: string, what: string): ActionFailure {
    const said = (parseJsonAs(statusSchema, body)?.message ?? '').slice(0, 300);
    const detail = said === '' ? '' : `: ${said}`;
    // A 409 on the pinned resourceVersion: someone (often the controller starting an operation) wrote first.
    if (status === 409) return fail('in-progress', true, `argocd ${what}: the Application changed since it was read; retrying later`, inProgressRetryMs);
    if (status === 401) return fail('rejected', false, `argocd ${what}: HTTP 401, the Kubernetes credentials were rejected${detail}`);
    if (status === 403) return fail('rejected', false, `argocd ${what}: HTTP 403, forbidden (RBAC needs get and patch on applications.argoproj.io)${detail}`);
    if (status === 404) return fail('rejected', false, `argocd ${what}: HTTP 404, not found${detail}`);
    if (status === 408 || status === 429 || status >= 500) return fail('unavailable', true, `argocd ${what}: HTTP ${status}${detail}`);
    return fail('rejected', false, `argocd ${what}: HTTP ${status}${detail}`);
  }

  async function call(req: Parameters<KubeHttp['request']>[0], what: string): Promise<{ status: number; body: string } | ActionFailure> {
    try {
      return await opts.http.request(req);
    } catch (error) {
      return fail('unavailable', true, `argocd ${what}: ${transportFailure(error)}`);
    }
  }

  async function read(owner: OwnerRef): Promise<{ ok: true; app: KubeApplication } | ActionFailure> {
    const what = `read of ${label(owner)}`;
    const res = await call({ method: 'GET', path: pathOf(owner) }, what);
    if (!('status' in res)) return res;
    if (res.status < 200 || res.status >= 300) return mapError(res.status, res.body, what);
    const app = parseJsonAs(kubeApplicationSchema, res.body);
    if (app === undefined) return fail('rejected', false, `argocd ${what}: the answer is not an Application`);
    return { ok: true, app };
  }

  return {
    async inspect(owner) {
      const got = await read(owner);
      if (!got.ok) return got;
      return {
        ok: true,
        state: { inProgress: operationInProgress(got.app), suspended: false, synced: syncedResources(got.app), ...applicationTarget(got.app) },
      };
    },
    async remediate(req) {
      const what = `sync operation on ${label(req.owner)}`;
      if (req.resources.length === 0) return fail('rejected', false, `argocd ${what}: no resources named; refusing to sync the whole application`);
      // Read right before writing: a merge patch would silently replace a pending operation.
      const got = await read(req.owner);
      if (!got.ok) return got;
      if (operationInProgress(got.app))
        return fail('in-progress', true, `argocd ${what}: another operation is already in progress; retrying later`, inProgressRetryMs);
      if (got.app.metadata.deletionTimestamp) return fail('rejected', false, `argocd ${what}: the Application is being deleted`);
      const body = operationPatch(operationFor(req, got.app), got.app.metadata.resourceVersion);
      const res = await call({ method: 'PATCH', path: pathOf(req.owner), body, contentType: 'application/merge-patch+json' }, what);
      if (!('status' in res)) return res;
      if (res.status < 200 || res.status >= 300) return mapError(res.status, res.body, what);
      if (parseJsonAs(kubeApplicationSchema, res.body) === undefined)
        return fail('rejected', false, `argocd ${what}: HTTP ${res.status} but the answer is not an Application`);
      return { ok: true, detail: `argocd operation to sync ${req.resources.length} resource(s) set on ${got.app.metadata.name}` };
    },
    async observe(owner) {
      const got = await read(owner);
      if (!got.ok) return got;
      return { ok: true, observation: applicationObservation(got.app) };
    },
  };
}
