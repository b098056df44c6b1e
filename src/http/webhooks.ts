import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { Catalog } from '../classify/catalog.ts';
import { applicationToSignal } from '../sources/argocd/application.ts';
import { argocdWebhookSchema } from '../sources/argocd/webhook.ts';
import { parseFluxEvent, fluxRevisionOf, type FluxEvent } from '../sources/flux/event.ts';
import { interpretFluxEvent, ownerOf, revisionToRemember } from '../sources/flux/normalize.ts';
import type { FluxRevisionStore } from '../sources/flux/revision-store.ts';
import type { Ingest } from '../track/ingest.ts';
import { verifyBearerToken, verifyFluxSignature } from './verify-signature.ts';
import { badRequest, describeIssues, parseJsonBody, unauthorized } from './errors.ts';
import type { SignalOutcome } from '../metrics.ts';

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
}

export interface WebhookAnswer {
  outcome: SignalOutcome | 'duplicate';
  body: Record<string, unknown>;
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
  return {
    outcome: result.outcome === 'stale' ? 'stale' : result.outcome,
    body: { status: 'accepted', outcome: result.outcome, groups: result.groups, findings: result.findings },
  };
}

/**
 * Identity of a Flux event for replay/duplicate detection: Flux signs nothing time-bound and
 * several Alerts may forward the same event, so the same event is processed once.
 */
function fluxEventId(e: FluxEvent): string {
  const o = e.involvedObject;
  return createHash('sha256')
    .update([o.kind, o.namespace ?? '', o.name, o.uid ?? '', e.reason, e.message, e.timestamp, fluxRevisionOf(e) ?? ''].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

/**
 * POST /webhooks/flux: signature (generic-hmac) or token (generic) on the raw body, then parse.
 * Rollout vs drift is settled by the revision remembered from earlier events; that memory and the
 * "processed" mark are written only after tracking succeeded, so a retried delivery is judged
 * exactly as the first one was.
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
  const event = parsed.event;
  const owner = ownerOf(event);
  const eventId = fluxEventId(event);
  const { previous, seen } = await deps.fluxRevisions.lookup(deps.cluster, owner, eventId);
  if (seen) return { outcome: 'duplicate', body: { status: 'accepted', outcome: 'duplicate' } };

  const interpretation = interpretFluxEvent(event, {
    cluster: deps.cluster,
    previousRevision: previous,
    groupOfKind: (kind: string) => deps.catalog.groupOfKind(kind),
    now: deps.now(),
  });
  let answer: WebhookAnswer;
  switch (interpretation.kind) {
    case 'drift': {
      const result = await deps.ingest(interpretation.signal);
      answer = { outcome: result.outcome, body: { status: 'accepted', outcome: result.outcome, groups: result.groups, findings: result.findings } };
      break;
    }
    case 'rollout':
      answer = { outcome: 'rollout', body: { status: 'accepted', outcome: 'rollout', revision: interpretation.revision } };
      break;
    case 'ignored':
      answer = { outcome: 'ignored', body: { status: 'accepted', outcome: 'ignored', why: interpretation.why } };
      break;
  }
  await deps.fluxRevisions.commit(deps.cluster, owner, revisionToRemember(event), eventId);
  return answer;
}
