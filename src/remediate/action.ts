import type { OwnerRef, ResourceRef } from '../model/signal.ts';
import type { VerifyObservation } from './verify.ts';
import type { TargetScope } from './scope.ts';
import { redactSecrets } from '../net/http.ts';

/**
 * The two I/O edges of a remediation receiver (Argo CD sync, Flux reconcile) behind one shape, so
 * the remediator does not know which tool it drives. Neither throws; reasons never hold a token.
 */

/** Why an action did not happen, as a small enum (audit records and metrics use it). */
export type ActionFailureKind = 'in-progress' | 'sync-window' | 'suspended' | 'rejected' | 'unavailable';

export type ActionFailure = { ok: false; kind: ActionFailureKind; retryable: boolean; reason: string; retryAfterMs?: number };

/** What the GitOps tool says about the owner before acting. */
export interface TargetState {
  /** An Argo CD operation is pending or running. */
  inProgress: boolean;
  /** Flux `spec.suspend: true`. */
  suspended: boolean;
  /** Resources the tool reports Synced now (Argo CD `status.resources`); empty when it does not say. */
  synced: ResourceRef[];
  /** Where the owner deploys, as read from the tool (never the webhook): the scope checks (scope.ts). */
  scope?: TargetScope;
  /** Argo CD's sync windows deny a sync now (`GET …/syncwindows` canSync false): why, and when to look again. */
  syncWindow?: { reason: string; retryAfterMs: number };
  /** The last operation Argo CD reports (`status.operationState`): who started it and when (epoch ms). */
  lastOperation?: { by: string; startedAt: number; byMeshdrift: boolean };
}

export interface RemediationRequest {
  owner: OwnerRef;
  /** The drifted resources to sync (Argo CD); Flux reconciles the whole owner and only records them. */
  resources: ResourceRef[];
  prune: boolean;
  /** Shown by the tool (Argo CD operation info); the audit reason. */
  reason: string;
}

/** One GitOps tool's remediation API. */
export interface RemediationClient {
  inspect(owner: OwnerRef): Promise<{ ok: true; state: TargetState } | ActionFailure>;
  /** `requestedAt`: the Flux token written, which `status.lastHandledReconcileAt` will echo (for the verify step). */
  remediate(request: RemediationRequest): Promise<{ ok: true; detail: string; requestedAt?: string } | ActionFailure>;
  /** What the tool says now about an earlier action's result (the verify step). */
  observe(
    owner: OwnerRef,
    target: { resources: readonly ResourceRef[]; requestedAt?: string | undefined },
  ): Promise<{ ok: true; observation: VerifyObservation } | ActionFailure>;
}

/** Removes every occurrence of `secret` (and its Bearer header form) from a text, then bounds it. */
export function redact(text: string, secret: string, max = 500): string {
  const clean = redactSecrets(text, [secret]);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
