import type { Logger } from '../log.ts';
import type { Catalog } from '../classify/catalog.ts';
import { applicationToSignal } from '../sources/argocd/application.ts';
import { argocdWebhookSchema } from '../sources/argocd/webhook.ts';
import { parseFluxEvent } from '../sources/flux/event.ts';
import { processFluxEvent, type FluxEventDeps } from '../sources/flux/process-event.ts';
import type { FluxRevisionStore } from '../sources/flux/revision-store.ts';
import type { Ingest } from '../track/ingest.ts';
import { claimedCluster, scopeRefusal, type Claim, type ScopeRefusal, type Sender, type Senders } from './senders.ts';
import { badRequest, describeIssues, forbidden, parseJsonBody, unauthorized, type HttpError } from './errors.ts';
import type { SignalOutcome } from '../metrics.ts';
import type { OwnerRef } from '../model/signal.ts';

export interface WebhookDeps {
  ingest: Ingest;
  fluxRevisions: FluxRevisionStore;
  catalog: Catalog;
  /** MESHDRIFT_CLUSTER: the cluster of a signal whose sender names none. */
  cluster: string;
  /** Who may post; a tool without credentials takes anyone (serve allows that only when told to). */
  senders: Senders;
  /** A credential spoke for what it may not (meshdrift_webhook_refused_total). */
  onRefused?: (sender: string, reason: ScopeRefusal) => void;
  now: () => number;
  log: Logger;
  /** The API group of an object in a watched Flux object's inventory (when watches run). */
  groupInInventory?: (cluster: string, owner: OwnerRef, ref: { kind: string; namespace: string; name: string }) => string | undefined;
  /** Reads an owner's group index ahead, with the Flux revision lookup (sources/flux/process-event.ts). */
  ownerGroupsAhead?: FluxEventDeps['ownerGroupsAhead'];
}

export interface WebhookAnswer {
  outcome: SignalOutcome | 'duplicate';
  body: Record<string, unknown>;
}

// A name with a control, bidi or zero-width character (model/signal.ts): 400, naming the field of
// the signal it would have become (the value is not echoed).
function refusedSignal(r: { field: string; reason: string }): HttpError {
  return badRequest(`refused: ${r.field} ${r.reason}`);
}

/** The sender of a request to `tool`'s webhook: undefined when the webhook is open; 401 when none matches. */
function authenticate(
  tool: 'argocd' | 'flux',
  request: { authorization?: string | undefined; signature?: string | undefined; raw: Buffer },
  deps: WebhookDeps,
): Sender | undefined {
  if (!deps.senders.has(tool)) return undefined;
  const auth = deps.senders.authenticate(tool, request);
  if (!auth.ok) throw unauthorized(auth.reason);
  return auth.sender;
}

/** 403 (and counted) when the sender may not speak for `claim`. The message names what, not the secret. */
function checkScope(sender: Sender | undefined, claim: Claim, deps: WebhookDeps): void {
  if (sender === undefined) return;
  const refusal = scopeRefusal(sender, claim);
  if (refusal === undefined) return;
  deps.onRefused?.(sender.name, refusal);
  const what =
    refusal === 'cluster'
      ? `cluster ${JSON.stringify(claim.cluster.slice(0, 64))}`
      : refusal === 'project'
        ? `project ${JSON.stringify((claim.project ?? '').slice(0, 64))}`
        : `namespace ${JSON.stringify((claim.namespace ?? '').slice(0, 64))}`;
  throw forbidden(`sender ${sender.name} may not speak for ${what}`);
}

/** POST /webhooks/argocd: bearer token (if configured) → JSON → zod → scope → snapshot signal → ingest. */
export async function receiveArgocd(raw: Buffer, authorization: string | undefined, deps: WebhookDeps): Promise<WebhookAnswer> {
  const sender = authenticate('argocd', { authorization, raw }, deps);
  const parsed = argocdWebhookSchema.safeParse(parseJsonBody(raw));
  if (!parsed.success) throw badRequest(`not an Argo CD notification body: ${describeIssues(parsed.error.issues)}`);
  const cluster = claimedCluster(parsed.data.cluster, sender, deps.cluster);
  checkScope(sender, { cluster, project: parsed.data.app.spec?.project, namespace: parsed.data.app.metadata.namespace }, deps);
  const signal = applicationToSignal(parsed.data.app, {
    cluster,
    source: 'argocd-webhook',
    now: deps.now(),
  });
  const result = await deps.ingest(signal);
  if (result.outcome === 'refused') throw refusedSignal(result);
  return {
    outcome: result.outcome,
    body: { status: 'accepted', outcome: result.outcome, groups: result.groups, findings: result.findings },
  };
}

/**
 * POST /webhooks/flux: signature (generic-hmac) or token (generic) on the raw body, then parse,
 * then the same processing as events the Kubernetes watch sees (sources/flux/process-event.ts).
 */
export async function receiveFlux(
  raw: Buffer,
  headers: { signature?: string | undefined; authorization?: string | undefined },
  deps: WebhookDeps,
): Promise<WebhookAnswer> {
  const sender = authenticate('flux', { ...headers, raw }, deps);
  const parsed = parseFluxEvent(parseJsonBody(raw));
  if (!parsed.ok) throw badRequest(`not a Flux event: ${parsed.error}`);
  // A Flux event names no cluster: it is the sender's (when it speaks for one), else MESHDRIFT_CLUSTER.
  const cluster = claimedCluster(undefined, sender, deps.cluster);
  checkScope(sender, { cluster, namespace: parsed.event.involvedObject.namespace }, deps);
  const result = await processFluxEvent(parsed.event, {
    cluster,
    source: 'flux-webhook',
    ingest: deps.ingest,
    fluxRevisions: deps.fluxRevisions,
    groupOfKind: (kind: string) => deps.catalog.groupOfKind(kind),
    ...(deps.groupInInventory ? { groupInInventory: deps.groupInInventory } : {}),
    ...(deps.ownerGroupsAhead ? { ownerGroupsAhead: deps.ownerGroupsAhead } : {}),
    now: deps.now(),
  });
  switch (result.outcome) {
    case 'duplicate':
      return { outcome: 'duplicate', body: { status: 'accepted', outcome: 'duplicate' } };
    case 'drift':
      if (result.result.outcome === 'refused') throw refusedSignal(result.result);
      return {
        outcome: result.result.outcome,
        body: { status: 'accepted', outcome: result.result.outcome, groups: result.result.groups, findings: result.result.findings },
      };
    case 'rollout':
      return { outcome: 'rollout', body: { status: 'accepted', outcome: 'rollout', revision: result.revision } };
    case 'ignored':
      return { outcome: 'ignored', body: { status: 'accepted', outcome: 'ignored', why: result.why } };
  }
}
