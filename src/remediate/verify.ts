import { z } from 'zod';
import { ownerRefSchema, resourceRefSchema, TOOLS, type ResourceRef } from '../model/signal.ts';
import { isArgoCdAction, remediationActionSchema } from './policy.ts';

/**
 * The verify step of a remediation (issue #6): after a real action, the owner must show the
 * remediated resources in sync within `verifyTimeoutMs`. The ticket travels in a delayed BullMQ job
 * (so it survives a restart and runs on exactly one replica); each run observes the tool once and
 * asks the pure {@link decideVerify} whether to wait, or report success or failure.
 */

export const verifyTicketSchema = z.object({
  /** The remediate receiver that acted. */
  receiver: z.string().min(1),
  action: remediationActionSchema,
  /** Unique per action: the job id and the once-only key of the verdict derive from it. */
  actionId: z.string().min(1),
  /** Who asked: `meshdrift` or `slack:<user>`. */
  actor: z.string().min(1),
  cluster: z.string(),
  tool: z.enum(TOOLS),
  owner: ownerRefSchema,
  resources: z.array(resourceRefSchema),
  fingerprints: z.array(z.string()),
  groupKey: z.string(),
  seq: z.number().int().positive(),
  /** Epoch ms of the action, and by when it must have converged. */
  startedAt: z.number(),
  deadline: z.number(),
  /** Wait between two observations. */
  pollMs: z.number().int().positive(),
  /** Flux: the `reconcile.fluxcd.io/requestedAt` token `status.lastHandledReconcileAt` must echo. */
  requestedAt: z.string().optional(),
});
export type VerifyTicket = z.infer<typeof verifyTicketSchema>;

/** What the GitOps tool says now about an action's result. */
export interface VerifyObservation {
  /** Still working on it: an Argo CD operation runs, or Flux has not handled the request yet. */
  pending: boolean;
  /** The tool says the action failed (Argo CD phase Failed/Error, Flux Ready=False after it handled the request). */
  failed?: string;
  /** Which of the ticket's resources are in sync now. */
  synced: readonly ResourceRef[];
}

export type VerifyDecision = { state: 'pending' } | { state: 'verified' | 'verify-failed'; reason: string };

/** Between two observations: a tenth of the timeout, within 100 ms … 10 s. */
export function verifyPollMs(timeoutMs: number): number {
  return Math.round(Math.min(10_000, Math.max(100, timeoutMs / 10)));
}

function sameResource(a: ResourceRef, b: ResourceRef): boolean {
  return a.group === b.group && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

function resourceLabel(r: ResourceRef): string {
  return `${r.kind} ${r.namespace === '' ? '' : `${r.namespace}/`}${r.name}`;
}

/** "12 s" under a minute, else "5m", "1h 30m" (whole minutes). */
export function shortDuration(ms: number): string {
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s`;
  const minutes = Math.floor(ms / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h ${m}m`;
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "Sync" or "Reconcile": what the action is called in messages. */
function actionNoun(t: Pick<VerifyTicket, 'action'>): string {
  return isArgoCdAction(t.action) ? 'Sync' : 'Reconcile';
}

/**
 * Decides the verify step from one observation (or the failure to observe, `observation`
 * undefined with `unavailable` saying why). Pure. Success needs every remediated resource in sync
 * and nothing pending; a failure the tool reports is final at once; otherwise the ticket waits until
 * its deadline and then fails, naming what did not converge.
 */
export function decideVerify(ticket: VerifyTicket, observation: VerifyObservation | undefined, now: number, unavailable?: string): VerifyDecision {
  const noun = actionNoun(ticket);
  const timeout = shortDuration(ticket.deadline - ticket.startedAt);
  if (observation !== undefined && !observation.pending && observation.failed !== undefined) {
    return { state: 'verify-failed', reason: `${noun} by meshdrift failed: ${observation.failed}` };
  }
  const missing = observation === undefined ? ticket.resources : ticket.resources.filter((r) => !observation.synced.some((s) => sameResource(s, r)));
  if (observation !== undefined && !observation.pending && missing.length === 0) {
    const what =
      ticket.tool === 'flux'
        ? `${ticket.owner.kind} ${ticket.owner.namespace}/${ticket.owner.name} reconciled and Ready`
        : `${count(ticket.resources.length, 'resource')} Synced`;
    return { state: 'verified', reason: `${noun} by meshdrift verified: ${what} after ${shortDuration(now - ticket.startedAt)}` };
  }
  if (now < ticket.deadline) return { state: 'pending' };
  const why =
    observation === undefined
      ? `could not read the result (${unavailable ?? 'unavailable'})`
      : observation.pending
        ? ticket.tool === 'flux'
          ? 'Flux has not handled the reconcile request yet'
          : 'the sync operation is still running'
        : `${count(missing.length, 'resource')} still out of sync (${missing.slice(0, 5).map(resourceLabel).join(', ')}${missing.length > 5 ? ', …' : ''})`;
  return { state: 'verify-failed', reason: `${noun} did not converge within ${timeout}: ${why}` };
}
