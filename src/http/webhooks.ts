import type { Logger } from '../log.ts';
import type { Catalog } from '../classify/catalog.ts';
import { applicationToSignal } from '../sources/argocd/application.ts';
import { argocdWebhookSchema } from '../sources/argocd/webhook.ts';
import { parseFluxEvent } from '../sources/flux/event.ts';
import { processFluxEvent } from '../sources/flux/process-event.ts';
import type { FluxRevisionStore } from '../sources/flux/revision-store.ts';
import type { Ingest } from '../track/ingest.ts';
import { verifyBearerToken, verifyFluxSignature } from './verify-signature.ts';
import { badRequest, describeIssues, parseJsonBody, unauthorized, type HttpError } from './errors.ts';
import type { SignalOutcome } from '../metrics.ts';
import type { OwnerRef } from '../model/signal.ts';

export interface WebhookDeps {
  ingest: Ingest;
  fluxRevisions: FluxRevisionStore;
  catalog: Catalog;
  cluster: string;
  argocdToken: string | undefined;
  fluxHmacKey: string | undefined;
  fluxToken: string | undefined;
  now: () => number;
  log: Logger;
  /** The API group of an object in a watched Flux object's inventory (when watches run). */
  groupInInventory?: (cluster: string, owner: OwnerRef, ref: { kind: string; namespace: string; name: string }) => string | undefined;
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

/** POST /webhooks/argocd: bearer token (if configured) → JSON → zod → snapshot signal → ingest. */
export async function receiveArgocd(raw: Buffer, authorization: string | undefined, deps: WebhookDeps): Promise<WebhookAnswer> {
  if (deps.argocdToken !== undefined) {
    const auth = verifyBearerToken(authorization, deps.argocdToken);
    if (!auth.ok) throw unauthorized(auth.reason);
  }
  const parsed = argocdWebhookSchema.safeParse(parseJsonBody(raw));
  if (!parsed.success) throw badRequest(`not an Argo CD notification body: ${describeIssues(parsed.error.issues)}`);
  const signal = applicationToSignal(parsed.data.app, {
    cluster: parsed.data.cluster ?? deps.cluster,
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
export async function receiveFlux(raw: Buffer, headers: { signature?: string | undefined; authorization?: string | undefined }, deps: WebhookDeps): Promise<WebhookAnswer> {
  if (deps.fluxHmacKey !== undefined) {
    const check = verifyFluxSignature(raw, headers.signature, deps.fluxHmacKey);
    if (!check.ok) throw unauthorized(check.reason);
  } else if (deps.fluxToken !== undefined) {
    const check = verifyBearerToken(headers.authorization, deps.fluxToken);
    if (!check.ok) throw unauthorized(check.reason);
  }
  const parsed = parseFluxEvent(parseJsonBody(raw));
  if (!parsed.ok) throw badRequest(`not a Flux event: ${parsed.error}`);
  const result = await processFluxEvent(parsed.event, {
    cluster: deps.cluster,
    source: 'flux-webhook',
    ingest: deps.ingest,
    fluxRevisions: deps.fluxRevisions,
    groupOfKind: (kind: string) => deps.catalog.groupOfKind(kind),
    ...(deps.groupInInventory ? { groupInInventory: deps.groupInInventory } : {}),
    now: deps.now(),
  });
  switch (result.outcome) {
    case 'duplicate':
      return { outcome: 'duplicate', body: { status: 'accepted', outcome: 'duplicate' } };
    case 'drift':
      if (result.result.outcome === 'refused') throw refusedSignal(result.result);
      return { outcome: result.result.outcome, body: { status: 'accepted', outcome: result.result.outcome, groups: result.result.groups, findings: result.result.findings } };
    case 'rollout':
      return { outcome: 'rollout', body: { status: 'accepted', outcome: 'rollout', revision: result.revision } };
    case 'ignored':
      return { outcome: 'ignored', body: { status: 'accepted', outcome: 'ignored', why: result.why } };
  }
}
