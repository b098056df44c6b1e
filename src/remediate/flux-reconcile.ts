import { z } from 'zod';
import { createTextHttpClient } from '../deliver/http-result.ts';
import type { OwnerRef } from '../model/signal.ts';
import { redact, transportFailure, type ActionFailure, type RemediationClient, parseJson } from './action.ts';

/**
 * Asks Flux to reconcile a Kustomization or HelmRelease the way `flux reconcile` does (reference
 * flux.md §5): a JSON merge patch of `reconcile.fluxcd.io/requestedAt`, refused while the object is
 * suspended. `observe` follows `status.lastHandledReconcileAt` and Ready: the verify step (verify.ts).
 */

/** A minimal Kubernetes API transport; the kubeconfig-based one (TLS, exec credentials) comes later. */
export interface KubeHttp {
  request(req: { method: 'GET' | 'PATCH'; path: string; body?: string; contentType?: string }): Promise<{ status: number; body: string }>;
}

export interface AxiosKubeHttpOptions {
  /** API server base URL, e.g. https://10.0.0.1:6443 (tests: a local server). */
  apiUrl: string;
  /** Bearer token (service account). Never in an error. */
  token: string;
  timeoutMs?: number;
}

/** {@link KubeHttp} over axios with a bearer token. Throws only transport errors, named by code. */
export function createAxiosKubeHttp(opts: AxiosKubeHttpOptions): KubeHttp {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const http = createTextHttpClient(timeoutMs, {
    baseURL: opts.apiUrl.replace(/\/+$/, ''),
    maxContentLength: 8 * 1024 * 1024,
    headers: { Authorization: `Bearer ${opts.token}`, 'User-Agent': 'meshdrift', Accept: 'application/json' },
  });
  return {
    async request(req) {
      const res = await http.request<string>({
        method: req.method,
        url: req.path,
        ...(req.body === undefined ? {} : { data: req.body }),
        ...(req.contentType === undefined ? {} : { headers: { 'Content-Type': req.contentType } }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, body: typeof res.data === 'string' ? res.data : '' };
    },
  };
}

export interface FluxReconcileClientOptions {
  http: KubeHttp;
  /** Clock for the requestedAt token. */
  now: () => number;
  /** Redacted from every reason, in case the API server echoes it. */
  token?: string;
}

/** The annotation Flux watches; any new value queues a reconcile. */
export const REQUESTED_AT_ANNOTATION = 'reconcile.fluxcd.io/requestedAt';

const KINDS: Readonly<Record<string, { group: string; version: string; plural: string }>> = {
  Kustomization: { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations' },
  HelmRelease: { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases' },
};

// A Kubernetes Status (errors) and the part of a Flux object meshdrift reads.
const statusSchema = z.object({ message: z.string().optional(), reason: z.string().optional() });
const fluxObjectSchema = z.object({
  metadata: z.object({ name: z.string(), annotations: z.record(z.string(), z.string()).nullish() }),
  spec: z.object({ suspend: z.boolean().nullish() }).nullish(),
  status: z
    .object({
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

/** Flux reconcile requests as a {@link RemediationClient}. Never throws. */
export function createFluxReconcileClient(opts: FluxReconcileClientOptions): RemediationClient {
  const fail = (kind: ActionFailure['kind'], retryable: boolean, reason: string): ActionFailure => ({ ok: false, kind, retryable, reason: redact(reason, opts.token ?? '') });

  function mapError(status: number, body: string, what: string): ActionFailure {
    const said = statusMessage(body);
    const detail = said === '' ? '' : `: ${said}`;
    if (status === 401) return fail('rejected', false, `flux ${what}: HTTP 401, the token was rejected${detail}`);
    if (status === 403) return fail('rejected', false, `flux ${what}: HTTP 403, forbidden (RBAC needs get and patch)${detail}`);
    if (status === 404) return fail('rejected', false, `flux ${what}: HTTP 404, not found${detail}`);
    if (status === 408 || status === 409 || status === 429 || status >= 500) return fail('unavailable', true, `flux ${what}: HTTP ${status}${detail}`);
    return fail('rejected', false, `flux ${what}: HTTP ${status}${detail}`);
  }

  async function read(owner: OwnerRef, path: string): Promise<{ ok: true; suspended: boolean; obj: FluxObject } | ActionFailure> {
    const what = `read of ${owner.kind} ${owner.namespace}/${owner.name}`;
    let res: { status: number; body: string };
    try {
      res = await opts.http.request({ method: 'GET', path });
    } catch (error) {
      return fail('unavailable', true, `flux ${what}: ${transportFailure(error)}`);
    }
    if (res.status < 200 || res.status >= 300) return mapError(res.status, res.body, what);
    const obj = parseJson(fluxObjectSchema, res.body);
    if (obj === undefined) return fail('rejected', false, `flux ${what}: the answer is not a ${owner.kind}`);
    return { ok: true, suspended: obj.spec?.suspend === true, obj };
  }

  return {
    async inspect(owner) {
      const path = fluxObjectPath(owner);
      if (path === null) return fail('rejected', false, `flux cannot reconcile a ${owner.kind}`);
      const got = await read(owner, path);
      if (!got.ok) return got;
      return { ok: true, state: { inProgress: false, suspended: got.suspended, synced: [] } };
    },
    async remediate(req) {
      const { owner } = req;
      const path = fluxObjectPath(owner);
      if (path === null) return fail('rejected', false, `flux cannot reconcile a ${owner.kind}`);
      // GET first, as the CLI does: a suspended object is refused, not patched.
      const got = await read(owner, path);
      if (!got.ok) return got;
      if (got.suspended) return fail('suspended', false, `flux ${owner.kind} ${owner.namespace}/${owner.name} is suspended (spec.suspend: true); resume it to reconcile`);
      const requestedAt = rfc3339Nano(opts.now());
      const what = `reconcile request for ${owner.kind} ${owner.namespace}/${owner.name}`;
      let res: { status: number; body: string };
      try {
        res = await opts.http.request({ method: 'PATCH', path, body: reconcilePatch(requestedAt), contentType: 'application/merge-patch+json' });
      } catch (error) {
        return fail('unavailable', true, `flux ${what}: ${transportFailure(error)}`);
      }
      if (res.status < 200 || res.status >= 300) return mapError(res.status, res.body, what);
      if (parseJson(fluxObjectSchema, res.body) === undefined) return fail('rejected', false, `flux ${what}: HTTP ${res.status} but the answer is not a ${owner.kind}`);
      return { ok: true, detail: `flux reconcile requested at ${requestedAt}`, requestedAt };
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
      const said = [ready.reason, ready.message].filter((p): p is string => p !== undefined && p !== '').join(': ').slice(0, 200);
      return { ok: true, observation: { pending: false, synced: [], failed: redact(`not Ready${said === '' ? '' : ` (${said})`}`, opts.token ?? '') } };
    },
  };
}


function statusMessage(body: string): string {
  const s = parseJson(statusSchema, body);
  return (s?.message ?? '').slice(0, 300);
}
