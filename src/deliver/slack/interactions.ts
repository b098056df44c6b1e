import { z } from 'zod';
import type { Logger } from '../../log.ts';
import type { GroupLabels } from '../../model/alert-group.ts';
import type { OwnerRef } from '../../model/signal.ts';
import type { SilenceStore } from '../../track/silence-store.ts';
import { mrkdwnLine } from '../text.ts';
import {
  actionLogLine,
  decodeButtonValue,
  parseActionId,
  silenceMatchersFor,
  withActionLog,
  type SlackActionKind,
  type SlackActionRequest,
} from './actions.ts';
import type { SlackMessageRef } from './message-store.ts';
import type { ResponseUrlPost } from './response-url.ts';
import { messageOf } from '../../model/error-message.ts';

/**
 * What a click on an alert message's button does (issue #6), once the request is verified and
 * answered (http/slack-actions.ts): authorize, act, audit, and tell (ephemeral reply or message
 * update). Every outcome, refusals included, goes to the audit trail.
 */

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

export interface SlackInteractionDeps {
  now: () => number;
  log: Logger;
  silences: SilenceStore;
  /** The group's labels (the tracker's stored state), or null when the group is gone. */
  groupLabels: (groupKey: string) => Promise<GroupLabels | null>;
  /**
   * Whether this Slack user may do this to this group (the route's `slack_actions`). Rejects when it
   * cannot tell (Slack user groups unreadable): the click is refused and audited as failed.
   */
  allowed: (action: SlackActionKind, slackUserId: string, labels: GroupLabels, groupKey: string) => boolean | Promise<boolean>;
  /** "Sync now": remediate the group's owner (dry run per policy). Rejects on failure. */
  sync: (groupKey: string, actor: string) => Promise<SlackSyncResult | undefined>;
  /** "Acknowledge": queues the PagerDuty acknowledges; `summary` is shown on the message. Rejects on failure. */
  acknowledge: (groupKey: string, actor: string) => Promise<{ summary?: string } | undefined>;
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
  /** Posts to the payload's `response_url` (deliver/slack/response-url.ts). */
  respond: ResponseUrlPost;
}

const ephemeral = (deps: SlackInteractionDeps, payload: BlockActionsPayload, text: string): Promise<void> =>
  deps.respond(payload.response_url, { response_type: 'ephemeral', replace_original: false, text });

// Adds the "who did what" line to the alert message: chat.update on the stored ref when possible,
// otherwise response_url with replace_original.
async function tellOnMessage(deps: SlackInteractionDeps, payload: BlockActionsPayload, groupKey: string, line: string): Promise<void> {
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
  await deps.respond(payload.response_url, { replace_original: true, text, blocks: next });
}

/** One button click of a verified block_actions payload: authorize, act, audit, tell. */
export async function handleSlackAction(
  deps: SlackInteractionDeps,
  payload: BlockActionsPayload,
  action: BlockActionsPayload['actions'][number],
): Promise<void> {
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
    await ephemeral(deps, payload, 'This alert is no longer active: nothing was done.');
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
    await ephemeral(deps, payload, `Could not check whether you may ${verb(request)} this alert (${mrkdwnLine(messageOf(err), 150)}). Nothing was done.`);
    return;
  }
  if (!allowed) {
    log.info({ groupKey }, 'slack action not allowed');
    await deps.audit({ ...base, ...where, at: deps.now(), outcome: 'denied', reason: `${actor} is not allowed to ${request.kind} this alert` });
    await ephemeral(deps, payload, `You are not allowed to ${verb(request)} this alert. Nothing was done.`);
    return;
  }

  let line: string;
  try {
    line = await perform(deps, request, { groupKey, seq, labels, actor, userId, base, where });
  } catch (err) {
    const reason = messageOf(err);
    log.error({ groupKey, error: reason }, 'slack action failed');
    await deps.audit({ ...base, ...where, at: deps.now(), outcome: 'failed', reason }).catch((e: unknown) => {
      log.error({ error: messageOf(e) }, 'audit of a failed slack action failed');
    });
    await ephemeral(deps, payload, `Could not ${verb(request)} this alert: ${mrkdwnLine(reason, 200)}`);
    return;
  }
  await deps.recordAction?.(groupKey, labels, line).catch((err: unknown) => {
    log.warn({ groupKey, error: messageOf(err) }, 'could not keep the action line with the Slack message');
  });
  await tellOnMessage(deps, payload, groupKey, line).catch((err: unknown) => {
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
async function perform(deps: SlackInteractionDeps, request: SlackActionRequest, c: Ctx): Promise<string> {
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
      await deps.audit({
        ...c.base,
        ...c.where,
        at: now,
        outcome: 'performed',
        reason: `silenced for ${request.durationLabel} until ${silence.endsAt}`,
        silenceId: silence.id,
      });
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
      await deps.audit({
        ...c.base,
        ...c.where,
        at: deps.now(),
        outcome: 'performed',
        reason: summary === undefined ? 'acknowledged' : `acknowledged (${summary})`,
      });
      const line = actionLogLine(request, c.userId, 'done');
      return summary === undefined ? line : `${line} (${summary})`;
    }
  }
}

function verb(r: SlackActionRequest): string {
  return r.kind === 'silence' ? `silence (${r.durationLabel})` : r.kind === 'sync' ? 'sync' : 'acknowledge';
}
