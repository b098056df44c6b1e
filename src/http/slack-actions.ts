import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import {
  actionLogLine,
  decodeButtonValue,
  parseActionId,
  silenceMatchersFor,
  withActionLog,
  type SlackActionKind,
  type SlackActionRequest,
} from '../deliver/slack/actions.ts';
import type { SlackMessageRef } from '../deliver/slack/message-store.ts';
import { mrkdwnLine } from '../deliver/text.ts';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import type { GroupLabels } from '../model/alert-group.ts';
import { groupStateSchema } from '../track/group-state.ts';
import { groupRedisKey } from '../track/keys.ts';
import type { OwnerRef } from '../model/signal.ts';
import type { SilenceStore } from '../track/silence-store.ts';
import type { AuditEntryInput } from '../remediate/audit.ts';

/**
 * `POST /slack/actions`: Slack interactivity (block_actions) for the buttons of an alert message
 * (issue #6). Order: verify the signature over the raw body → parse (zod) → answer 200 at once →
 * then, off the request, authorize, act, audit and tell (ephemeral reply or message update).
 */

// ---------------------------------------------------------------------------------------------
// Signature (routing.md §5, bolt-js verify-request.ts, stricter: future timestamps are rejected)
// ---------------------------------------------------------------------------------------------

/** How far a request timestamp may be from now, either way. */
export const SLACK_MAX_SKEW_SECONDS = 300;

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

function headerOf(headers: Headers, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== lower) continue;
    return typeof v === 'string' ? v : v?.[0];
  }
  return undefined;
}

const SIGNATURE = /^v0=([0-9a-f]{64})$/i;

/**
 * A verified Slack request, with the key a replay guard remembers it by: a hash of the signed
 * (timestamp, body) pair, not of the header text. The header's encoding (hex case, `V0=`, spaces)
 * is the sender's choice; what was signed is not, so every spelling of one click is one key.
 */
export type SlackVerifyResult = { ok: true; replayKey: string } | { ok: false; reason: string };

/** The replay key of a verified request: SHA-256 over the timestamp (as a number) and the body's SHA-256. */
export function slackReplayKey(timestampSeconds: number, rawBody: Buffer): string {
  const bodyHash = createHash('sha256').update(rawBody).digest('hex');
  return createHash('sha256').update(`v0:${timestampSeconds}:${bodyHash}`).digest('hex');
}

/**
 * Checks a Slack request: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + ts + ":" + body)>`
 * with `X-Slack-Request-Timestamp` (Unix seconds) within {@link SLACK_MAX_SKEW_SECONDS} of `now`
 * (epoch ms), old or ahead. Over the raw bytes, before any parsing; compares in constant time.
 * The reason never contains the secret or the expected signature.
 */
export function verifySlackRequest(rawBody: Buffer, headers: Headers, signingSecret: string, now: number): SlackVerifyResult {
  if (signingSecret === '') return { ok: false, reason: 'no Slack signing secret configured' };
  const tsText = headerOf(headers, 'x-slack-request-timestamp')?.trim() ?? '';
  if (tsText === '') return { ok: false, reason: 'missing X-Slack-Request-Timestamp header' };
  if (!/^\d{1,12}$/.test(tsText)) return { ok: false, reason: 'malformed X-Slack-Request-Timestamp header: expected Unix seconds' };
  const skew = Math.floor(now / 1000) - Number(tsText);
  if (skew > SLACK_MAX_SKEW_SECONDS) return { ok: false, reason: `request timestamp is ${skew}s old (more than ${SLACK_MAX_SKEW_SECONDS}s): possible replay` };
  if (-skew > SLACK_MAX_SKEW_SECONDS) return { ok: false, reason: `request timestamp is ${-skew}s in the future (more than ${SLACK_MAX_SKEW_SECONDS}s)` };
  const sigText = headerOf(headers, 'x-slack-signature')?.trim() ?? '';
  if (sigText === '') return { ok: false, reason: 'missing X-Slack-Signature header' };
  const match = SIGNATURE.exec(sigText);
  if (match?.[1] === undefined) return { ok: false, reason: 'malformed X-Slack-Signature header: expected v0=<64 hex digits>' };
  const expected = createHmac('sha256', signingSecret).update(`v0:${tsText}:`).update(rawBody).digest();
  const given = Buffer.from(match[1], 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature mismatch' };
  return { ok: true, replayKey: slackReplayKey(Number(tsText), rawBody) };
}

// ---------------------------------------------------------------------------------------------
// Payload
// ---------------------------------------------------------------------------------------------

/** The part of Slack's block_actions payload meshdrift reads; unknown fields are ignored. */
export const blockActionsPayloadSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1).max(64), username: z.string().optional(), name: z.string().optional() }),
  team: z.object({ id: z.string() }).nullish(),
  channel: z.object({ id: z.string() }).nullish(),
  container: z.object({ type: z.string(), message_ts: z.string().optional(), channel_id: z.string().optional() }).optional(),
  message: z.object({ ts: z.string().optional(), text: z.string().optional(), blocks: z.array(z.unknown()).optional() }).optional(),
  response_url: z.url().optional(),
  actions: z
    .array(z.object({ action_id: z.string().max(255), block_id: z.string().optional(), value: z.string().optional(), type: z.string() }))
    .min(1)
    .max(25),
});
export type BlockActionsPayload = z.infer<typeof blockActionsPayloadSchema>;

// Slack sends other interaction types (view_submission, shortcut, …) to the same URL.
const anyPayloadSchema = z.object({ type: z.string() });

// ---------------------------------------------------------------------------------------------
// Dependencies
// ---------------------------------------------------------------------------------------------

/** One decision or action taken from a Slack button, for the audit trail. */
export interface SlackActionAuditEntry {
  at: number;
  /** `slack:<user id>`. */
  actor: string;
  action: SlackActionKind;
  outcome: 'performed' | 'dry-run' | 'denied' | 'failed' | 'skipped';
  reason: string;
  groupKey: string;
  seq: number;
  cluster?: string;
  owner?: OwnerRef;
  /** The silence created, for `silence`. */
  silenceId?: string;
}

/** What a sync did, as the sync dep reports it. */
export interface SlackSyncResult {
  dryRun: boolean;
  /** Shown in the action log when given (short). */
  summary?: string;
}

export interface SlackActionsDeps {
  /** `SLACK_SIGNING_SECRET`. */
  signingSecret: string;
  now: () => number;
  log: Logger;
  silences: SilenceStore;
  /** The group's labels (from its stored state), or null when the group is gone. */
  groupLabels: (groupKey: string) => Promise<GroupLabels | null>;
  /**
   * Whether this Slack user may do this to this group (the route's `slack_actions`). Rejects when it
   * cannot tell (Slack user groups unreadable): the click is refused and audited as failed.
   */
  allowed: (action: SlackActionKind, slackUserId: string, labels: GroupLabels, groupKey: string) => boolean | Promise<boolean>;
  /** "Sync now": remediate the group's owner (dry run per policy). Rejects on failure. */
  sync: (groupKey: string, actor: string) => Promise<SlackSyncResult | void>;
  /** "Acknowledge": queues the PagerDuty acknowledges; `summary` is shown on the message. Rejects on failure. */
  acknowledge: (groupKey: string, actor: string) => Promise<{ summary?: string } | void>;
  /**
   * Keeps the "who did what" line with the group's message, so that the next notification's
   * re-render shows it again. Rejects when it cannot (the line is then shown until the next edit).
   */
  recordAction?: (groupKey: string, labels: GroupLabels, line: string) => Promise<void>;
  /** Appends to the audit trail. Rejects when it cannot: then the action is not done. */
  audit: (entry: SlackActionAuditEntry) => Promise<void>;
  /** Where the group's message is (for chat.update); without it, the payload's container is used. */
  messageRef?: (groupKey: string) => Promise<SlackMessageRef | null>;
  /**
   * chat.update of the alert message. Without it, the message is replaced through `response_url`
   * (`replace_original`), which Slack honours up to 5 times within 30 minutes.
   */
  updateMessage?: (channel: string, ts: string, text: string, blocks: unknown[]) => Promise<void>;
  /**
   * Which `response_url`s may be posted to (they come from the signed payload; this keeps a leaked
   * secret from turning meshdrift into a request relay). Default: https://hooks.slack.com only.
   */
  responseUrlAllowed?: (url: URL) => boolean;
  /**
   * Replay guard: true the first time a verified request's replay key (see {@link slackReplayKey})
   * is seen (e.g. Redis SET NX PX 10 min). A replay within the timestamp window, however its
   * signature header is spelt, then does nothing. Default: none (the 5-minute window only).
   */
  firstSeen?: (replayKey: string) => Promise<boolean>;
  /** Timeout for response_url posts; default 5 s. */
  timeoutMs?: number;
  /** Body limit; default 64 KiB (block_actions payloads are a few KiB). */
  maxBodyBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_BODY = 64 * 1024;

const slackHooksOnly = (url: URL): boolean => url.protocol === 'https:' && url.hostname === 'hooks.slack.com';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The express router for `POST /slack/actions`. Mount it at the root (`app.use(router)`), before
 * any body parser: it parses its own raw body. Answers 401 for a bad signature, 400 for a body that
 * is not a Slack payload, 200 otherwise (empty: Slack shows nothing), always before the work runs.
 */
export function createSlackActionsRouter(deps: SlackActionsDeps): express.Router {
  const router = express.Router();
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const urlAllowed = deps.responseUrlAllowed ?? slackHooksOnly;
  const raw = express.raw({ type: () => true, limit: deps.maxBodyBytes ?? DEFAULT_MAX_BODY });

  async function respond(responseUrl: string | undefined, body: Record<string, unknown>): Promise<void> {
    if (responseUrl === undefined) throw new Error('no response_url in the payload');
    const url = new URL(responseUrl);
    if (!urlAllowed(url)) throw new Error(`response_url host ${url.hostname} is not allowed`);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`response_url answered HTTP ${res.status}`);
  }

  const ephemeral = (payload: BlockActionsPayload, text: string): Promise<void> =>
    respond(payload.response_url, { response_type: 'ephemeral', replace_original: false, text });

  // Adds the "who did what" line to the alert message: chat.update on the stored ref when possible,
  // otherwise response_url with replace_original.
  async function tellOnMessage(payload: BlockActionsPayload, groupKey: string, line: string): Promise<void> {
    const blocks = payload.message?.blocks;
    if (blocks === undefined) return;
    const next = withActionLog(blocks, line);
    const text = payload.message?.text ?? line;
    if (deps.updateMessage !== undefined) {
      const ref = deps.messageRef === undefined ? null : await deps.messageRef(groupKey);
      const channel = ref?.channel ?? payload.container?.channel_id ?? payload.channel?.id;
      const ts = ref?.ts ?? payload.container?.message_ts ?? payload.message?.ts;
      if (channel !== undefined && ts !== undefined) {
        await deps.updateMessage(channel, ts, text, next);
        return;
      }
    }
    await respond(payload.response_url, { replace_original: true, text, blocks: next });
  }

  async function handle(payload: BlockActionsPayload, action: BlockActionsPayload['actions'][number]): Promise<void> {
    const request = parseActionId(action.action_id);
    if (request === null) return; // Not one of our buttons.
    const value = decodeButtonValue(action.value);
    const userId = payload.user.id;
    const actor = `slack:${userId}`;
    const log = deps.log.child({ source: 'slack-actions', action: request.kind, actor });
    if (value === null) {
      log.warn({ actionId: action.action_id }, 'slack action with an unreadable button value ignored');
      return;
    }
    const { g: groupKey, s: seq } = value;
    const base = { actor, action: request.kind, groupKey, seq } as const;

    const labels = await deps.groupLabels(groupKey);
    if (labels === null) {
      await deps.audit({ ...base, at: deps.now(), outcome: 'skipped', reason: 'alert group no longer exists' });
      await ephemeral(payload, 'This alert is no longer active: nothing was done.');
      return;
    }
    const where = { cluster: labels.cluster, owner: labels.owner };
    let allowed: boolean;
    try {
      allowed = await deps.allowed(request.kind, userId, labels, groupKey);
    } catch (err) {
      const reason = `could not check whether ${actor} may ${request.kind} this alert: ${messageOf(err)}`;
      log.warn({ groupKey, error: messageOf(err) }, 'slack action authorization failed');
      await deps.audit({ ...base, ...where, at: deps.now(), outcome: 'failed', reason });
      await ephemeral(payload, `Could not check whether you may ${verb(request)} this alert (${mrkdwnLine(messageOf(err), 150)}). Nothing was done.`);
      return;
    }
    if (!allowed) {
      log.info({ groupKey }, 'slack action not allowed');
      await deps.audit({ ...base, ...where, at: deps.now(), outcome: 'denied', reason: `${actor} is not allowed to ${request.kind} this alert` });
      await ephemeral(payload, `You are not allowed to ${verb(request)} this alert. Nothing was done.`);
      return;
    }

    let line: string;
    try {
      line = await perform(request, { groupKey, seq, labels, actor, userId, base, where });
    } catch (err) {
      const reason = messageOf(err);
      log.error({ groupKey, error: reason }, 'slack action failed');
      await deps.audit({ ...base, ...where, at: deps.now(), outcome: 'failed', reason }).catch((e: unknown) => {
        log.error({ error: messageOf(e) }, 'audit of a failed slack action failed');
      });
      await ephemeral(payload, `Could not ${verb(request)} this alert: ${mrkdwnLine(reason, 200)}`);
      return;
    }
    await deps.recordAction?.(groupKey, labels, line).catch((err: unknown) => {
      log.warn({ groupKey, error: messageOf(err) }, 'could not keep the action line with the Slack message');
    });
    await tellOnMessage(payload, groupKey, line).catch((err: unknown) => {
      log.warn({ groupKey, error: messageOf(err) }, 'could not update the Slack message after an action');
    });
  }

  interface Ctx {
    groupKey: string;
    seq: number;
    labels: GroupLabels;
    actor: string;
    userId: string;
    base: { actor: string; action: SlackActionKind; groupKey: string; seq: number };
    where: { cluster: string; owner: OwnerRef };
  }

  // Acts, then audits what happened; resolves the action-log line. A failure (including of the
  // audit) rejects: the caller audits it as failed and tells the user.
  async function perform(request: SlackActionRequest, c: Ctx): Promise<string> {
    switch (request.kind) {
      case 'silence': {
        const now = deps.now();
        const silence = await deps.silences.create(
          {
            matchers: silenceMatchersFor(c.labels),
            startsAt: new Date(now).toISOString(),
            endsAt: new Date(now + request.durationMs).toISOString(),
            createdBy: c.actor,
            comment: `Silenced for ${request.durationLabel} from Slack (alert group ${c.groupKey}, notification #${c.seq})`,
          },
          now,
        );
        await deps.audit({ ...c.base, ...c.where, at: now, outcome: 'performed', reason: `silenced for ${request.durationLabel} until ${silence.endsAt}`, silenceId: silence.id });
        return actionLogLine(request, c.userId, 'done');
      }
      case 'sync': {
        const result = await deps.sync(c.groupKey, c.actor);
        const dryRun = result?.dryRun === true;
        await deps.audit({ ...c.base, ...c.where, at: deps.now(), outcome: dryRun ? 'dry-run' : 'performed', reason: result?.summary ?? 'sync requested' });
        return actionLogLine(request, c.userId, dryRun ? 'dry-run' : 'done');
      }
      case 'acknowledge': {
        const result = await deps.acknowledge(c.groupKey, c.actor);
        const summary = result?.summary;
        await deps.audit({ ...c.base, ...c.where, at: deps.now(), outcome: 'performed', reason: summary === undefined ? 'acknowledged' : `acknowledged (${summary})` });
        const line = actionLogLine(request, c.userId, 'done');
        return summary === undefined ? line : `${line} (${summary})`;
      }
    }
  }

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
      handle(payload, action).catch((err: unknown) => {
        deps.log.error({ source: 'slack-actions', actionId: action.action_id, error: messageOf(err) }, 'slack action handling failed');
      });
    }
  });

  return router;
}

function verb(r: SlackActionRequest): string {
  return r.kind === 'silence' ? `silence (${r.durationLabel})` : r.kind === 'sync' ? 'sync' : 'acknowledge';
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

/** Replay guard on Redis: SET NX PX keyed by the request's replay key, kept for twice the timestamp window. */
export function createRedisSlackReplayGuard(redis: Redis, keyPrefix: string, ttlMs = 2 * SLACK_MAX_SKEW_SECONDS * 1000): (replayKey: string) => Promise<boolean> {
  return async (replayKey) => (await redis.set(`${keyPrefix}:slack:seen:${replayKey}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
}

/** `groupLabels` from the tracker's stored group state (null when the group is gone or unreadable). */
export function createRedisGroupLabels(redis: Redis, keyPrefix: string): (groupKey: string) => Promise<GroupLabels | null> {
  return async (groupKey) => {
    const json = await redis.hget(groupRedisKey(keyPrefix, groupKey), 's');
    if (json === null) return null;
    try {
      const parsed = groupStateSchema.safeParse(JSON.parse(json));
      return parsed.success ? parsed.data.labels : null;
    } catch {
      return null;
    }
  };
}
