import { STORM_OWNER_KIND } from '../storm.ts';
import { z } from 'zod';
import type { GroupLabels, Notification } from '../../model/alert-group.ts';
import type { MatcherSpec } from '../../route/matcher.ts';
import type { SlackBlock, SlackButton, SlackMrkdwn } from './blocks.ts';
import { mrkdwnLine } from '../text.ts';
import { groupMatchers } from '../links.ts';

/**
 * Slack buttons on an alert message (issue #6, "Slack actions"): what they look like, what they
 * carry, and what a click means. Pure: the HTTP side is src/http/slack-actions.ts.
 *
 * A button's `value` carries only the group key and the notification seq (never labels, tokens or
 * URLs); the handler looks the group up again and authorizes against what is stored.
 */

/** What a click asks for. */
export const SLACK_ACTION_KINDS = ['sync', 'silence', 'acknowledge'] as const;
export type SlackActionKind = (typeof SLACK_ACTION_KINDS)[number];

/** The `action_id` of each button, and what it means. */
export const SLACK_ACTION_IDS = {
  sync: 'meshdrift.sync',
  silence1h: 'meshdrift.silence.1h',
  silence1d: 'meshdrift.silence.1d',
  acknowledge: 'meshdrift.ack',
} as const;

/** A parsed `action_id`. */
export type SlackActionRequest = { kind: 'sync' } | { kind: 'acknowledge' } | { kind: 'silence'; durationMs: number; durationLabel: string };

const HOUR_MS = 3_600_000;

/** Maps an `action_id` to its action; null for one meshdrift did not render. */
export function parseActionId(actionId: string): SlackActionRequest | null {
  switch (actionId) {
    case SLACK_ACTION_IDS.sync:
      return { kind: 'sync' };
    case SLACK_ACTION_IDS.acknowledge:
      return { kind: 'acknowledge' };
    case SLACK_ACTION_IDS.silence1h:
      return { kind: 'silence', durationMs: HOUR_MS, durationLabel: '1h' };
    case SLACK_ACTION_IDS.silence1d:
      return { kind: 'silence', durationMs: 24 * HOUR_MS, durationLabel: '1d' };
    default:
      return null;
  }
}

/** The `block_id` of the actions block and of the "who did what" context line. */
export const SLACK_ACTIONS_BLOCK_ID = 'meshdrift.actions';
export const SLACK_ACTION_LOG_BLOCK_ID = 'meshdrift.action-log';

/** Slack's limit on a button `value`. */
export const MAX_BUTTON_VALUE = 2000;

/** What a button's `value` holds: `{"g": groupKey, "s": seq}` as JSON. */
// meshdrift group keys are 32 hex characters; the cap keeps four buttons well inside the message budget.
const MAX_GROUP_KEY = 200;
export const buttonValueSchema = z.object({
  g: z.string().min(1).max(MAX_GROUP_KEY),
  s: z.number().int().positive(),
});
export type ButtonValue = z.infer<typeof buttonValueSchema>;

export function encodeButtonValue(groupKey: string, seq: number): string {
  return JSON.stringify({ g: groupKey, s: seq } satisfies ButtonValue);
}

/** The button value as the handler reads it back, or null when it is not one of ours. */
export function decodeButtonValue(value: string | undefined): ButtonValue | null {
  if (value === undefined || value.length > MAX_BUTTON_VALUE) return null;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return null;
  }
  const parsed = buttonValueSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** Owner kinds a "Sync now" can act on: Argo CD Applications and Flux reconcilable objects. */
const SYNCABLE_OWNERS: Readonly<Record<GroupLabels['tool'], readonly string[]>> = {
  argocd: ['Application'],
  flux: ['Kustomization', 'HelmRelease'],
  // meshdrift's own findings (a cluster it cannot reach) have nothing to sync.
  meshdrift: [],
};

/** Whether the group's owner is something "Sync now" can sync (Argo CD Application, Flux Kustomization/HelmRelease). */
export function isSyncable(labels: Pick<GroupLabels, 'tool' | 'owner'>): boolean {
  return SYNCABLE_OWNERS[labels.tool].includes(labels.owner.kind);
}

const button = (actionId: string, text: string, value: string, style?: SlackButton['style']): SlackButton => ({
  type: 'button',
  action_id: actionId,
  text: { type: 'plain_text', text, emoji: false },
  value,
  ...(style === undefined ? {} : { style }),
});

/**
 * The buttons of a firing notification's main message, those of `allowed` only (deliver/slack/
 * buttons.ts decides where a click can work): "Sync now" (syncable owners only), "Silence 1h",
 * "Silence 1d", "Acknowledge". Null when no button is left, for a resolved notification, or when
 * the group key is too long for a button value (never the case for meshdrift's hashed keys).
 */
export function slackActionsBlock(n: Notification, allowed: ReadonlySet<SlackActionKind>): Extract<SlackBlock, { type: 'actions' }> | null {
  // A storm summary is no alert group: silence, acknowledge or sync its members (GET /api/v1/storms).
  if (n.status !== 'firing' || n.labels.owner.kind === STORM_OWNER_KIND) return null;
  const value = encodeButtonValue(n.groupKey, n.seq);
  if (value.length > MAX_BUTTON_VALUE || n.groupKey.length > MAX_GROUP_KEY) return null;
  const elements: SlackButton[] = [
    ...(isSyncable(n.labels) && allowed.has('sync') ? [button(SLACK_ACTION_IDS.sync, 'Sync now', value, 'primary')] : []),
    ...(allowed.has('silence') ? [button(SLACK_ACTION_IDS.silence1h, 'Silence 1h', value), button(SLACK_ACTION_IDS.silence1d, 'Silence 1d', value)] : []),
    ...(allowed.has('acknowledge') ? [button(SLACK_ACTION_IDS.acknowledge, 'Acknowledge', value)] : []),
  ];
  return elements.length === 0 ? null : { type: 'actions', block_id: SLACK_ACTIONS_BLOCK_ID, elements };
}

/**
 * The matchers of a silence for one alert group: the same as its silence link and the web page's
 * (deliver/links.ts groupMatchers): its `group_by` label values when the route groups by labels,
 * else its cluster and owner, exactly, so the silence covers this group's findings and nothing
 * else's.
 */
export function silenceMatchersFor(labels: Pick<GroupLabels, 'cluster' | 'owner' | 'groupBy'>): MatcherSpec[] {
  return groupMatchers(labels);
}

/** A Slack user id as Slack sends it (U…, W…); anything else is not rendered as a mention. */
const USER_ID = /^[UW][A-Z0-9]{2,20}$/;

/** `<@U123>` for a well-formed user id; otherwise the id as inert text (the one sanitiser, src/deliver/text.ts). */
export function mention(userId: string): string {
  return USER_ID.test(userId) ? `<@${userId}>` : mrkdwnLine(userId, 64);
}

/** The "who did what" line, e.g. "Silenced for 1h by <@U123>". */
export function actionLogLine(req: SlackActionRequest, userId: string, result: 'done' | 'dry-run' | 'failed', detail?: string): string {
  const who = mention(userId);
  const what =
    req.kind === 'silence'
      ? `:no_bell: Silenced for ${req.durationLabel} by ${who}`
      : req.kind === 'sync'
        ? result === 'dry-run'
          ? `:arrows_counterclockwise: Sync requested by ${who} (dry run: nothing changed)`
          : `:arrows_counterclockwise: Sync requested by ${who}`
        : `:eyes: Acknowledged by ${who}`;
  const failed = result === 'failed' ? ` — failed${detail === undefined ? '' : `: ${detail.slice(0, 80)}`}` : '';
  return `${what}${failed}`;
}

/** Context lines kept in the action log (Slack allows 10 elements per context block). */
export const MAX_ACTION_LOG_LINES = 10;
/** Room the renderer keeps free for the action log (one block, up to MAX_ACTION_LOG_LINES lines). */
export const ACTION_LOG_RESERVE_CHARS = 2_000;
/** One action-log line at most (mentions and emoji included): 10 lines stay inside the reserve. */
export const MAX_ACTION_LOG_LINE = 150;

const blockSchema = z.looseObject({ type: z.string(), block_id: z.string().optional() });
const contextSchema = z.looseObject({
  type: z.literal('context'),
  block_id: z.literal(SLACK_ACTION_LOG_BLOCK_ID),
  elements: z.array(z.unknown()),
});

/**
 * The message's blocks with `line` added to its action log (a context block kept just before the
 * footer, newest last, at most {@link MAX_ACTION_LOG_LINES} lines). Blocks that are not objects with
 * a type are dropped. With `removeActions`, the buttons go (e.g. once the group is resolved).
 */
export function withActionLog(blocks: readonly unknown[], line: string, opts: { removeActions?: boolean } = {}): unknown[] {
  const kept: Array<Record<string, unknown>> = [];
  for (const b of blocks) {
    const parsed = blockSchema.safeParse(b);
    if (parsed.success) kept.push(parsed.data);
  }
  const element: SlackMrkdwn = { type: 'mrkdwn', text: line.slice(0, MAX_ACTION_LOG_LINE) };
  const logIdx = kept.findIndex((b) => b.block_id === SLACK_ACTION_LOG_BLOCK_ID);
  const out = opts.removeActions === true ? kept.filter((b) => b.block_id !== SLACK_ACTIONS_BLOCK_ID) : [...kept];
  if (logIdx >= 0) {
    const existing = contextSchema.safeParse(kept[logIdx]);
    const lines = existing.success ? existing.data.elements : [];
    const next = { type: 'context', block_id: SLACK_ACTION_LOG_BLOCK_ID, elements: [...lines, element].slice(-MAX_ACTION_LOG_LINES) };
    const at = out.findIndex((b) => b.block_id === SLACK_ACTION_LOG_BLOCK_ID);
    out.splice(at, 1, next);
    return out;
  }
  const log = { type: 'context', block_id: SLACK_ACTION_LOG_BLOCK_ID, elements: [element] };
  // Before the footer (the last context block) when there is one, so the footer stays last.
  const last = out.at(-1);
  if (last !== undefined && last.type === 'context') out.splice(out.length - 1, 0, log);
  else out.push(log);
  return out;
}
