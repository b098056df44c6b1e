import { receiverTypeOf, type ReceiverConfig } from '../../config/policy.ts';
import type { GroupLabels, Notification } from '../../model/alert-group.ts';
import type { CompiledRoute } from '../../route/route.ts';
import { resolveGroupRoute } from '../../track/grouping.ts';
import { isSyncable, type SlackActionKind } from './actions.ts';

/**
 * Which buttons an alert message carries (issue #19): only those whose click can work. A click
 * works when Slack can reach meshdrift (SLACK_SIGNING_SECRET set: `POST /slack/actions` exists,
 * src/http/routes.ts), when someone may press it (the group's route `slack_actions`, or
 * MESHDRIFT_SLACK_ALLOWED_USERS: deliver/slack/authorize.ts), and for "Sync now", when a
 * remediate receiver can act on the group's owner (remediate/sync-now.ts picks it with
 * {@link syncReceiverFor}). Otherwise the button is not drawn, and with no button at all there
 * is no actions block. Pure.
 */

/** The buttons one message may carry; decided per notification. */
export type SlackButtonsOf = (n: Notification) => ReadonlySet<SlackActionKind>;

/** What the decision reads: the environment's Slack settings and the policy in force. */
export interface SlackButtonSettings {
  /** SLACK_SIGNING_SECRET is set, so Slack's clicks reach `POST /slack/actions`. */
  interactive: boolean;
  /** MESHDRIFT_SLACK_ALLOWED_USERS (comma-separated): who may click on routes without `slack_actions`. */
  allowedUsers: string | undefined;
  /** The policy's route tree (for the group's `slack_actions`). */
  route: CompiledRoute;
  /** The policy's receivers (for a remediate receiver "Sync now" can use). */
  receivers: readonly ReceiverConfig[];
}

const NONE: ReadonlySet<SlackActionKind> = new Set();

/** The remediation actions that sync each tool's owners. */
const SYNC_ACTIONS: Readonly<Record<GroupLabels['tool'], readonly string[]>> = {
  argocd: ['argocd-sync', 'argocd-operation'],
  flux: ['flux-reconcile'],
  meshdrift: [],
};

/**
 * The remediate receiver "Sync now" uses for a group: the first whose action syncs the group's
 * tool, and which, when it acts through one cluster's Kubernetes API (`kube.cluster`), acts on the
 * group's cluster. Undefined when the policy has none.
 */
export function syncReceiverFor(receivers: readonly ReceiverConfig[], labels: Pick<GroupLabels, 'tool' | 'cluster'>): ReceiverConfig | undefined {
  const wanted = SYNC_ACTIONS[labels.tool];
  return receivers.find(
    (r) =>
      receiverTypeOf(r) === 'remediate' &&
      r.remediate !== undefined &&
      wanted.includes(r.remediate.action) &&
      (r.remediate.kube === undefined || r.remediate.kube.cluster === labels.cluster),
  );
}

/** Whether anyone at all may press `action` under a route's access (the click-time check is authorize.ts). */
function anyoneMay(action: SlackActionKind, access: CompiledRoute['slackActions'], allowedUsers: ReadonlySet<string>): boolean {
  if (access === undefined) return allowedUsers.size > 0;
  return access.actions.includes(action) && access.allowed.length > 0;
}

/** The buttons of a notification's message under these settings (see the file comment). */
export function slackButtons(n: Notification, s: SlackButtonSettings, allowedUsers: ReadonlySet<string>): ReadonlySet<SlackActionKind> {
  if (!s.interactive || n.status !== 'firing') return NONE;
  const { route } = resolveGroupRoute(s.route, n.labels, [...n.firing, ...n.resolved]);
  const out = new Set<SlackActionKind>();
  if (isSyncable(n.labels) && syncReceiverFor(s.receivers, n.labels) !== undefined && anyoneMay('sync', route.slackActions, allowedUsers)) out.add('sync');
  if (anyoneMay('silence', route.slackActions, allowedUsers)) out.add('silence');
  if (anyoneMay('acknowledge', route.slackActions, allowedUsers)) out.add('acknowledge');
  return out;
}

/** {@link slackButtons} bound to one policy and environment (built with the receivers, rebuilt on reload). */
export function slackButtonsOf(s: SlackButtonSettings): SlackButtonsOf {
  const allowedUsers = new Set(
    (s.allowedUsers ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== ''),
  );
  return (n) => slackButtons(n, s, allowedUsers);
}
