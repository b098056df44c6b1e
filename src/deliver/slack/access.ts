import type { LoadedPolicy } from '../../config/load.ts';
import type { GroupLabels } from '../../model/alert-group.ts';
import { resolveGroupRoute, routeIndex } from '../../track/grouping.ts';
import type { TrackStore } from '../../track/redis-store.ts';
import type { SlackActionKind } from './actions.ts';
import { createSlackUserGroups, slackActionAllowed, type SlackUserGroups } from './authorize.ts';

export interface SlackActionAccessDeps {
  policy: () => Pick<LoadedPolicy, 'classify' | 'receivers'>;
  /** The tracker (for a group stored under a route id the policy no longer has). */
  store: Pick<TrackStore, 'get'>;
  /** MESHDRIFT_SLACK_ALLOWED_USERS: the default for routes without `slack_actions` (comma-separated). */
  allowedUsers: string | undefined;
  /** The raw environment the Slack receivers' `token_env` names. */
  processEnv: NodeJS.ProcessEnv;
  /** SLACK_BOT_TOKEN, for groups whose receiver names no token. */
  botToken: string | undefined;
  /** SLACK_API_URL. */
  apiUrl: string | undefined;
  now: () => number;
}

/**
 * Who may click what on an alert message: the group's route by identity (never by position: a
 * reload that reorders routes must not hand one route's permissions to another's alerts); by
 * content for a group stored under an id the policy no longer has (track/grouping.ts
 * resolveGroupRoute). User groups are read with the bot token of the group's Slack receiver (else
 * SLACK_BOT_TOKEN), one cached reader per token.
 */
export function createSlackActionAccess(
  deps: SlackActionAccessDeps,
): (action: SlackActionKind, user: string, labels: GroupLabels, groupKey: string) => Promise<boolean> {
  const allowedUsers = new Set(
    (deps.allowedUsers ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== ''),
  );
  const userGroupsByToken = new Map<string, SlackUserGroups>();
  const userGroupsFor = (labels: GroupLabels): SlackUserGroups | undefined => {
    const r = deps.policy().receivers.find((x) => x.name === labels.receiver && x.slack !== undefined);
    const token = (r?.slack ? deps.processEnv[r.slack.token_env] : undefined) ?? deps.botToken;
    if (!token) return undefined;
    let groups = userGroupsByToken.get(token);
    if (!groups) {
      groups = createSlackUserGroups({ token, now: deps.now, ...(deps.apiUrl ? { apiUrl: deps.apiUrl } : {}) });
      userGroupsByToken.set(token, groups);
    }
    return groups;
  };
  return async (action, user, labels, groupKey) => {
    const root = deps.policy().classify.route;
    const known = labels.route !== undefined && routeIndex(root).has(labels.route);
    const findings = known ? [] : Object.values((await deps.store.get(groupKey))?.findings ?? {});
    const { route } = resolveGroupRoute(root, labels, findings);
    return slackActionAllowed(action, user, route.slackActions, allowedUsers, userGroupsFor(labels));
  };
}
