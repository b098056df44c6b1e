import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { blockActionsPayloadSchema, handleSlackAction, type SlackActionAuditEntry, type SlackInteractionDeps } from '../deliver/slack/interactions.ts';
import { createResponseUrlClient } from '../deliver/slack/response-url.ts';
import type { AuditEntryInput } from '../remediate/audit.ts';
import { verifySlackRequest } from './verify-signature.ts';
import { messageOf } from '../model/error-message.ts';

export type { BlockActionsPayload, SlackActionAuditEntry, SlackSyncResult } from '../deliver/slack/interactions.ts';

/**
 * `POST /slack/actions`: Slack interactivity (block_actions) for the buttons of an alert message
 * (issue #6). Order: verify the signature over the raw body (verify-signature.ts) → parse (zod) →
 * replay guard → answer 200 at once → then, off the request, what the click does
 * (deliver/slack/interactions.ts: authorize, act, audit, tell).
 */

export interface SlackActionsDeps extends Omit<SlackInteractionDeps, 'respond'> {
  /** `SLACK_SIGNING_SECRET`. */
  signingSecret: string;
  /**
   * Which `response_url`s may be posted to (they come from the signed payload; this keeps a leaked
   * secret from turning meshdrift into a request relay). Default: https://hooks.slack.com only.
   */
  responseUrlAllowed?: (url: URL) => boolean;
  /**
   * Replay guard: true the first time a verified request's replay key (verify-signature.ts
   * `slackReplayKey`) is seen (e.g. Redis SET NX PX 10 min). A replay within the timestamp window,
   * however its signature header is spelt, then does nothing. Default: none (the 5-minute window only).
   */
  firstSeen?: (replayKey: string) => Promise<boolean>;
  /** Timeout for response_url posts; default 5 s. */
  timeoutMs?: number;
  /** Body limit; default 64 KiB (block_actions payloads are a few KiB). */
  maxBodyBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_BODY = 64 * 1024;

// Slack sends other interaction types (view_submission, shortcut, …) to the same URL.
const anyPayloadSchema = z.object({ type: z.string() });

/**
 * The express router for `POST /slack/actions`. Mount it at the root (`app.use(router)`), before
 * any body parser: it parses its own raw body. Answers 401 for a bad signature, 400 for a body that
 * is not a Slack payload, 200 otherwise (empty: Slack shows nothing), always before the work runs.
 */
export function createSlackActionsRouter(deps: SlackActionsDeps): express.Router {
  const router = express.Router();
  const respond = createResponseUrlClient({
    timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(deps.responseUrlAllowed ? { allowed: deps.responseUrlAllowed } : {}),
  });
  const interactions: SlackInteractionDeps = { ...deps, respond };
  const raw = express.raw({ type: () => true, limit: deps.maxBodyBytes ?? DEFAULT_MAX_BODY });

  router.post('/slack/actions', raw, async (req: Request, res: Response) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verified = verifySlackRequest(body, req.headers, deps.signingSecret, deps.now());
    if (!verified.ok) {
      deps.log.warn({ source: 'slack-actions', error: verified.reason }, 'slack action rejected');
      res.status(401).json({ error: verified.reason });
      return;
    }
    const payloadText = new URLSearchParams(body.toString('utf8')).get('payload');
    if (payloadText === null) {
      res.status(400).json({ error: 'expected application/x-www-form-urlencoded with a payload field' });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(payloadText);
    } catch {
      res.status(400).json({ error: 'payload is not JSON' });
      return;
    }
    const kind = anyPayloadSchema.safeParse(json);
    if (!kind.success) {
      res.status(400).json({ error: 'payload has no type' });
      return;
    }
    if (kind.data.type !== 'block_actions') {
      res.status(200).end();
      return;
    }
    const parsed = blockActionsPayloadSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      res.status(400).json({ error: `invalid block_actions payload: ${issue === undefined ? '' : `${issue.path.map(String).join('.')}: ${issue.message}`}` });
      return;
    }
    const payload = parsed.data;
    // A replay (the same signed timestamp and body, whatever the header's spelling) inside the
    // timestamp window is acknowledged and ignored.
    if (deps.firstSeen !== undefined) {
      let first: boolean;
      try {
        first = await deps.firstSeen(verified.replayKey);
      } catch (err) {
        deps.log.warn({ source: 'slack-actions', error: messageOf(err) }, 'slack replay guard unavailable');
        res.status(503).set('Retry-After', '5').json({ error: 'temporarily unavailable' });
        return;
      }
      if (!first) {
        deps.log.warn({ source: 'slack-actions', user: payload.user.id }, 'replayed slack action ignored');
        res.status(200).end();
        return;
      }
    }
    // Answer first (Slack wants 200 within 3 s), then do the work.
    res.status(200).end();
    for (const action of payload.actions) {
      handleSlackAction(interactions, payload, action).catch((err: unknown) => {
        deps.log.error({ source: 'slack-actions', actionId: action.action_id, error: messageOf(err) }, 'slack action handling failed');
      });
    }
  });

  return router;
}

/** A Slack action's record in the one audit trail (`GET /api/v1/audit`), kind `slack-action`. */
export function slackAuditEntry(e: SlackActionAuditEntry): AuditEntryInput {
  return {
    kind: 'slack-action',
    at: e.at,
    actor: e.actor,
    action: e.action,
    cluster: e.cluster ?? '',
    ...(e.owner === undefined ? {} : { owner: e.owner }),
    outcome: e.outcome,
    reason: e.reason,
    groupKey: e.groupKey,
    seq: e.seq,
    ...(e.silenceId === undefined ? {} : { silenceId: e.silenceId }),
  };
}
