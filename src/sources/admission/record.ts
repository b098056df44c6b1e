import type { Catalog } from '../../classify/catalog.ts';
import { type GitOpsOwnerOptions, gitOpsOwnerOf } from '../../model/gitops-owner.ts';
import { diffObjects } from '../../model/object-diff.ts';
import { redactObject, redactText } from '../../model/redact.ts';
import { type DriftState, type Signal, signalIdentityIssue } from '../../model/signal.ts';
import { type AdmissionRecord, attributionOf, bodyDigest } from '../../track/admission-store.ts';
import { bodyOf } from '../mesh/slim.ts';
import { appSignalFields, type AppFacts } from '../argocd/app-index.ts';
import type { AdmissionRequest } from './review.ts';
import { isGitOpsUser, keptUser, type UserPolicy } from './user-policy.ts';

/**
 * The recorder's pure core (issue #17): which admission requests are recorded, the record of one,
 * and the finding a change outside Git makes. No I/O: the recorder (recorder.ts) stores the record
 * and ingests the signal.
 */

export interface RecordContext {
  cluster: string;
  catalog: Catalog;
  users: UserPolicy;
  owners: GitOpsOwnerOptions;
}

/** Why a request is not recorded (a metric label), or null when it is. */
export type SkipReason = 'dry_run' | 'operation' | 'subresource' | 'not_mesh' | null;

/**
 * Only writes of a mesh kind (the catalog; the webhook's rules already name only mesh groups),
 * never a dry run (Argo CD's server-side diff and Flux's drift checks are dry runs, and nothing
 * they do is persisted), never a subresource (status is the controllers', not a person's).
 */
export function skipReason(req: AdmissionRequest, catalog: Catalog): SkipReason {
  if (req.dryRun === true) return 'dry_run';
  if (req.operation === 'CONNECT') return 'operation';
  if (req.subResource !== undefined && req.subResource !== '') return 'subresource';
  if (catalog.lookup(req.kind.group, req.kind.kind) === undefined) return 'not_mesh';
  return null;
}

interface Meta {
  uid?: unknown;
  name?: unknown;
  namespace?: unknown;
  resourceVersion?: unknown;
  labels?: unknown;
  annotations?: unknown;
}

function metaOf(obj: Record<string, unknown> | null | undefined): Meta {
  const m = obj?.metadata;
  return m !== null && typeof m === 'object' && !Array.isArray(m) ? (m as Meta) : {};
}

const str = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v !== '' && v.length <= max ? v : undefined);

function stringMap(v: unknown): Record<string, string> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** The object's GitOps owner: its markers as written, else as they were (a write that strips them is still outside Git). */
function ownerOf(req: AdmissionRequest, ref: { group: string; kind: string; namespace: string; name: string }, ctx: RecordContext) {
  for (const obj of [req.object, req.oldObject]) {
    const meta = metaOf(obj);
    const owner = gitOpsOwnerOf(ref, { labels: stringMap(meta.labels), annotations: stringMap(meta.annotations) }, ctx.owners);
    if (owner) return owner;
  }
  return undefined;
}

/** The record of one recorded request, or undefined when the object has no uid or name to key it by. */
export function recordOf(req: AdmissionRequest, ctx: RecordContext, at: number): AdmissionRecord | undefined {
  if (req.operation === 'CONNECT') return undefined;
  const live = req.operation === 'DELETE' ? req.oldObject : req.object;
  const meta = metaOf(live);
  const uid = str(meta.uid, 128) ?? str(metaOf(req.oldObject).uid, 128);
  const name = str(meta.name, 253) ?? str(req.name, 253);
  if (uid === undefined || name === undefined) return undefined;
  const ref = { group: req.kind.group, kind: req.kind.kind, namespace: str(meta.namespace, 63) ?? req.namespace ?? '', name };
  const owner = ownerOf(req, ref, ctx);
  const changes = diffObjects('admission', req.oldObject ?? null, req.operation === 'DELETE' ? null : (req.object ?? null), { ref });
  const fromResourceVersion = str(metaOf(req.oldObject).resourceVersion, 64);
  const afterDigest = req.operation === 'DELETE' || !req.object ? undefined : bodyDigest(redactObject(bodyOf(req.object), ref));
  const via = str(req.options?.fieldManager, 128);
  return {
    requestUid: req.uid,
    cluster: ctx.cluster,
    uid,
    ...ref,
    operation: req.operation,
    user: keptUser(req, ctx.users),
    gitops: isGitOpsUser(req, ctx.users),
    ...(owner ? { owner } : {}),
    ...(via === undefined ? {} : { via: redactText(via) }),
    at,
    ...(fromResourceVersion === undefined ? {} : { fromResourceVersion }),
    ...(afterDigest === undefined ? {} : { afterDigest }),
    changes,
  };
}

/**
 * The finding's detail: what happened, "changed outside Git". Who and through which tool is the
 * finding's attribution (rendered by every receiver: "changed by alice@corp via kubectl-edit").
 */
export function toldDetail(rec: AdmissionRecord): string {
  const verb = rec.operation === 'DELETE' ? 'deleted' : rec.operation === 'CREATE' ? 'created' : 'changed';
  return `${verb} outside Git (told by the API server's admission request)`;
}

/**
 * The finding a recorded write makes at once: a write to a GitOps-managed mesh object by anyone
 * but the GitOps controllers, that changed something (or deleted it). Owned by the GitOps owner, so
 * its fingerprint is the one Argo CD's or Flux's later verdict on the object has: one incident.
 * Partial (it resolves nothing else); told, not observed (anyone who reaches the listener can post),
 * until a watch event confirms it.
 */
export function admissionSignalOf(rec: AdmissionRecord, app?: AppFacts): Signal | undefined {
  if (rec.gitops || rec.owner === undefined) return undefined;
  if (rec.operation !== 'DELETE' && rec.changes.changes.length === 0 && (rec.changes.omitted ?? 0) === 0) return undefined;
  const state: DriftState = rec.operation === 'DELETE' ? 'Missing' : 'Modified';
  const signal: Signal = {
    source: 'admission',
    cluster: rec.cluster,
    owner: rec.owner,
    project: '',
    destination: {},
    // The owning app as the Argo CD watch holds it (here, where the watches run): routed like its verdict.
    ...(app ? appSignalFields(app) : {}),
    observedAt: rec.at,
    completeness: 'partial',
    resources: [
      {
        group: rec.group,
        kind: rec.kind,
        namespace: rec.namespace,
        name: rec.name,
        state,
        detail: toldDetail(rec),
        ...(rec.operation === 'DELETE' ? {} : { changes: rec.changes }),
        attribution: [attributionOf(rec)],
      },
    ],
  };
  return signalIdentityIssue(signal) === null ? signal : undefined;
}
