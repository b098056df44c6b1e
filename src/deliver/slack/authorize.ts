import type { SlackActionsConfig } from '../../route/route-config.ts';
import type { SlackActionKind } from './actions.ts';
import { slackClients, slackErrorToResult } from './client.ts';
import { redactSecrets } from '../../net/http.ts';

/**
 * Who may press which Slack button on an alert (issue #6): the route's `slack_actions` (inherited
 * from its parents) names Slack user IDs and user group IDs per route; without it anywhere up the
 * tree, MESHDRIFT_SLACK_ALLOWED_USERS is the default. The decision is pure; a user group's members
 * come from Slack's `usergroups.users.list`, cached briefly.
 */

/** Where a click's permission comes from. */
export type SlackAuthorization =
  | { decided: true; allowed: boolean; reason: string }
  /** The user is not named directly; membership of these user groups decides. */
  | { decided: false; groups: string[] };

/**
 * Decides a click from the route's settings (or the environment's default list), as far as it can
 * without Slack: a named user or `*` is allowed; an action the route does not list is refused to
 * everyone; otherwise the named user groups (S…) are left to check.
 */
export function authorizeSlackAction(
  action: SlackActionKind,
  userId: string,
  route: Readonly<SlackActionsConfig> | undefined,
  envDefault: ReadonlySet<string>,
): SlackAuthorization {
  if (route === undefined) {
    const allowed = envDefault.has('*') || envDefault.has(userId);
    return { decided: true, allowed, reason: allowed ? 'allowed by MESHDRIFT_SLACK_ALLOWED_USERS' : 'not in MESHDRIFT_SLACK_ALLOWED_USERS' };
  }
  if (!route.actions.includes(action)) return { decided: true, allowed: false, reason: `the route does not allow ${action} from Slack` };
  if (route.allowed.includes('*') || route.allowed.includes(userId)) return { decided: true, allowed: true, reason: 'named by the route' };
  const groups = route.allowed.filter((id) => id.startsWith('S'));
  if (groups.length === 0) return { decided: true, allowed: false, reason: 'not named by the route' };
  return { decided: false, groups };
}

/** Members of Slack user groups. */
export interface SlackUserGroups {
  /** The user IDs of a user group. Rejects when Slack cannot tell (the click is then refused). */
  members(groupId: string): Promise<readonly string[]>;
}

export interface SlackUserGroupsOptions {
  /** Bot token with `usergroups:read`. Never in an error. */
  token: string;
  apiUrl?: string;
  now: () => number;
  /** How long a group's members are reused; default 60 s (a removed user loses access within a minute). */
  ttlMs?: number;
  timeoutMs?: number;
}

/** `usergroups.users.list` with a short in-memory cache per group (and one request at a time per group). */
export function createSlackUserGroups(opts: SlackUserGroupsOptions): SlackUserGroups {
  const ttlMs = opts.ttlMs ?? 60_000;
  const client = slackClients({ token: opts.token, apiUrl: opts.apiUrl })(opts.timeoutMs ?? 5_000);
  const cache = new Map<string, { at: number; members: Promise<readonly string[]> }>();

  async function fetchMembers(groupId: string): Promise<readonly string[]> {
    try {
      const res = await client.usergroups.users.list({ usergroup: groupId });
      return res.users ?? [];
    } catch (error) {
      const reason = redactSecrets(slackErrorToResult('usergroups.users.list', error).reason, [opts.token]);
      throw new Error(`${reason}${/missing_scope/.test(reason) ? ' (the bot token needs usergroups:read)' : ''}`);
    }
  }

  return {
    members(groupId) {
      const now = opts.now();
      const hit = cache.get(groupId);
      if (hit !== undefined && now - hit.at < ttlMs) return hit.members;
      const members = fetchMembers(groupId);
      cache.set(groupId, { at: now, members });
      // A failure is not cached: the next click asks again.
      members.catch(() => cache.delete(groupId));
      return members;
    },
  };
}

/** The full check: the pure decision, then user group membership when it depends on it. */
export async function slackActionAllowed(
  action: SlackActionKind,
  userId: string,
  route: Readonly<SlackActionsConfig> | undefined,
  envDefault: ReadonlySet<string>,
  groups: SlackUserGroups | undefined,
): Promise<boolean> {
  const first = authorizeSlackAction(action, userId, route, envDefault);
  if (first.decided) return first.allowed;
  if (groups === undefined) throw new Error('the route names Slack user groups, but no Slack bot token is configured to read them');
  for (const id of first.groups) {
    if ((await groups.members(id)).includes(userId)) return true;
  }
  return false;
}
