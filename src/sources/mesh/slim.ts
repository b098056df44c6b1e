import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MASKED, redactObject } from '../../model/redact.ts';
import type { OwnerRef } from '../../model/signal.ts';
import type { SlimResult } from '../kube/slim.ts';
import { slimMeshStatusSchema, type SlimMeshStatus } from './effect.ts';
import { NOT_BODY, pathText, summarizeManagedFields, type ManagerSummary } from './fields.ts';
import { ownerOf, type OwnershipSettings } from './ownership.ts';

/**
 * What the mesh watch keeps of each mesh object (issue #16): its identity, its GitOps owner, a
 * summary of managedFields, its body (everything but apiVersion, kind, metadata, status) redacted
 * and serialized once, and the parts of its status `notInEffect` reads. Never the raw object: a
 * masked value (a header credential, a JWT) is kept only as a keyed digest of its path, so a
 * change of it can be told without the value (the key is random per process, never written).
 */

/** Longest serialized body kept; a bigger one is kept as its digest only (its changes are then not listed). */
export const MAX_BODY_CHARS = 64 * 1024;
/** Most masked paths whose digests are kept per object. */
const MAX_MASKED = 64;

const DIGEST_KEY = randomBytes(32);
/** A keyed digest (never output): tells a changed secret from an unchanged one, says nothing of it. */
export const digest = (text: string): string => createHmac('sha256', DIGEST_KEY).update(text).digest('base64url').slice(0, 22);

export interface SlimMeshObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion?: string; generation?: number };
  /** The group and kind this watch serves. */
  ref: { group: string; kind: string };
  /** The GitOps owner from the object's markers, or absent: unmanaged. */
  owner?: OwnerRef;
  managers: ManagerSummary[];
  /** JSON of the redacted body; absent when it was larger than MAX_BODY_CHARS. */
  body?: string;
  /** Digest of the whole raw body: any change, masked values included. */
  bodyDigest: string;
  /** Path → digest of each masked value (its raw text). */
  masked?: Record<string, string>;
  status?: SlimMeshStatus;
  /** It has ownerReferences: a controller made it (a canary's route, a gateway's children), not a person or GitOps. */
  controlled?: true;
  /** Past the per-cluster cap: kept as its identity only, and left out of every check. */
  capped?: true;
  /** Its Flux owner was told not to enforce it (the marker, e.g. `kustomize.toolkit.fluxcd.io/ssa: Ignore`): edits are not drift. */
  fluxOptOut?: string;
}

/**
 * The markers that tell Flux not to correct an object (label or annotation): kustomize-controller
 * skips objects with `kustomize.toolkit.fluxcd.io/reconcile: disabled` (kustomize-controller#484) or
 * `kustomize.toolkit.fluxcd.io/ssa: Ignore` / `IfNotPresent` (created if absent, never updated);
 * helm-controller leaves out of drift detection objects with
 * `helm.toolkit.fluxcd.io/driftDetection: disabled` (reference flux.md §3.5, §4.1).
 */
export function fluxOptOutOf(
  ownerKind: string | undefined,
  markers: { labels?: Record<string, string> | undefined; annotations?: Record<string, string> | undefined },
): string | undefined {
  const value = (key: string): string | undefined => (markers.annotations?.[key] ?? markers.labels?.[key])?.toLowerCase();
  if (ownerKind === 'Kustomization') {
    if (value('kustomize.toolkit.fluxcd.io/reconcile') === 'disabled') return 'kustomize.toolkit.fluxcd.io/reconcile: disabled';
    const ssa = value('kustomize.toolkit.fluxcd.io/ssa');
    if (ssa === 'ignore') return 'kustomize.toolkit.fluxcd.io/ssa: Ignore';
    if (ssa === 'ifnotpresent') return 'kustomize.toolkit.fluxcd.io/ssa: IfNotPresent';
  }
  if (ownerKind === 'HelmRelease' && value('helm.toolkit.fluxcd.io/driftDetection') === 'disabled') return 'helm.toolkit.fluxcd.io/driftDetection: disabled';
  return undefined;
}

const metadataSchema = z.object({
  name: z.string().min(1).max(253),
  namespace: z.string().max(63).optional(),
  uid: z.string().min(1).max(128),
  resourceVersion: z.string().max(64).optional(),
  generation: z.number().int().nonnegative().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  managedFields: z.unknown().optional(),
  ownerReferences: z.array(z.unknown()).optional(),
});

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The object without apiVersion, kind, metadata and status. */
export function bodyOf(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !NOT_BODY.has(k)));
}

/** Paths where redaction put MASKED instead of a raw value, each with a digest of the raw value. */
function maskedDigests(raw: unknown, redacted: unknown, path: (string | number)[], out: Record<string, string>): void {
  if (Object.keys(out).length >= MAX_MASKED) return;
  if (redacted === MASKED && raw !== MASKED) {
    out[pathText(path)] = digest(JSON.stringify(raw) ?? '');
    return;
  }
  if (Array.isArray(redacted) && Array.isArray(raw)) {
    redacted.forEach((r, i) => {
      path.push(i);
      maskedDigests(raw[i], r, path, out);
      path.pop();
    });
  } else if (isRecord(redacted) && isRecord(raw)) {
    for (const [k, r] of Object.entries(redacted)) {
      path.push(k);
      maskedDigests(raw[k], r, path, out);
      path.pop();
    }
  }
}

/** Parses and slims one raw mesh object of `ref`; an object without a uid or name is refused. */
export function slimMeshObject(raw: unknown, ref: { group: string; kind: string }, settings: OwnershipSettings): SlimResult<SlimMeshObject> {
  if (!isRecord(raw)) return { ok: false, error: '(root): not an object' };
  const meta = metadataSchema.safeParse(raw.metadata);
  if (!meta.success) {
    const issue = meta.error.issues[0];
    return { ok: false, error: `metadata.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
  }
  const m = meta.data;
  const managers = summarizeManagedFields(m.managedFields, raw);
  const identity = { group: ref.group, kind: ref.kind, namespace: m.namespace ?? '', name: m.name };
  const owner = ownerOf(identity, { labels: m.labels, annotations: m.annotations }, managers, settings);
  const fluxOptOut = fluxOptOutOf(owner?.kind, m);
  const rawBody = bodyOf(raw);
  const redactedBody = redactObject(rawBody, ref);
  const body = JSON.stringify(redactedBody);
  const masked: Record<string, string> = {};
  maskedDigests(rawBody, redactedBody, [], masked);
  const status = raw.status === undefined ? undefined : slimMeshStatusSchema.parse(raw.status);
  return {
    ok: true,
    object: {
      ...(typeof raw.apiVersion === 'string' ? { apiVersion: raw.apiVersion } : {}),
      ...(typeof raw.kind === 'string' ? { kind: raw.kind } : {}),
      metadata: {
        name: m.name,
        ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
        uid: m.uid,
        ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
        ...(m.generation !== undefined ? { generation: m.generation } : {}),
      },
      ref,
      ...(owner ? { owner } : {}),
      managers,
      ...(body.length <= MAX_BODY_CHARS ? { body } : {}),
      bodyDigest: digest(JSON.stringify(rawBody)),
      ...(Object.keys(masked).length > 0 ? { masked } : {}),
      ...(status !== undefined && Object.keys(status).length > 0 ? { status } : {}),
      ...(m.ownerReferences !== undefined && m.ownerReferences.length > 0 ? { controlled: true as const } : {}),
      ...(fluxOptOut !== undefined ? { fluxOptOut } : {}),
    },
  };
}

/** An object past the cap: its identity only (the informer still caches it, so it must stay small). */
export function cappedMeshObject(raw: unknown, ref: { group: string; kind: string }): SlimResult<SlimMeshObject> {
  const meta = metadataSchema.pick({ name: true, namespace: true, uid: true, resourceVersion: true }).safeParse(isRecord(raw) ? raw.metadata : undefined);
  if (!meta.success) return { ok: false, error: 'metadata: name and uid required' };
  const m = meta.data;
  return {
    ok: true,
    object: {
      metadata: {
        name: m.name,
        ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
        uid: m.uid,
        ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
      },
      ref,
      managers: [],
      bodyDigest: '',
      capped: true,
    },
  };
}

/** The uid of a raw object, if it has one. */
export function uidOf(raw: unknown): string | undefined {
  const meta = isRecord(raw) ? raw.metadata : undefined;
  const uid = isRecord(meta) ? meta.uid : undefined;
  return typeof uid === 'string' ? uid : undefined;
}
