import { z } from 'zod';
import { policyDurationSchema as duration } from '../model/duration.ts';

/**
 * The `route` tree of the policy file (config/policy.ts), with each route's Slack button access.
 * Declared beside the router that walks it (route/route.ts), below config/.
 */

/** What Slack buttons may do, and who may press them, on alerts of a route (inherited by its children). */
export const SLACK_BUTTON_ACTIONS = ['sync', 'silence', 'acknowledge'] as const;
export interface SlackActionsConfig {
  /** Slack user IDs (U…, W…) and user group IDs (S…), or "*" for anyone in the workspace. */
  allowed: string[];
  /** The buttons those users may use here; the others are refused to everyone. Default: all. */
  actions: Array<(typeof SLACK_BUTTON_ACTIONS)[number]>;
}

const slackActionsSchema = z.strictObject({
  allowed: z
    .array(z.string().regex(/^(\*|[UW][A-Z0-9]{2,20}|S[A-Z0-9]{2,20})$/, 'a Slack user ID (U…/W…), a user group ID (S…), or "*"'))
    .min(1, 'name at least one Slack user or user group ID (or "*")'),
  actions: z
    .array(z.enum(SLACK_BUTTON_ACTIONS))
    .min(1, 'name at least one of sync, silence, acknowledge')
    .default([...SLACK_BUTTON_ACTIONS]),
});

export interface RouteConfig {
  /**
   * The route's identity across reloads (unique in the tree; not on the root). Without it a
   * route is known by its content: matchers, receiver, group_by and its parent (route/route.ts).
   */
  name?: string | undefined;
  receiver?: string | undefined;
  matchers?: string[] | undefined;
  continue?: boolean | undefined;
  group_by?: string[] | undefined;
  group_wait?: number | undefined;
  group_interval?: number | undefined;
  repeat_interval?: number | undefined;
  pending_for?: number | undefined;
  /** Wait before telling a group fully resolved (the all-clear), instead of group_interval (inherited). */
  resolve_wait?: number | undefined;
  /** Names of time_intervals during which this route sends nothing (not inherited, as in Alertmanager). */
  mute_time_intervals?: string[] | undefined;
  /** Names of time_intervals outside which this route sends nothing. */
  active_time_intervals?: string[] | undefined;
  /** Who may use which Slack buttons on this route's alerts (else MESHDRIFT_SLACK_ALLOWED_USERS). */
  slack_actions?: SlackActionsConfig | undefined;
  routes?: RouteConfig[] | undefined;
}

/** Route names key alert groups and show in reasons: a short, plain token. */
const routeName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a route name is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const routeSchema: z.ZodType<RouteConfig, unknown> = z.lazy(() =>
  z.strictObject({
    name: routeName.optional(),
    receiver: z.string().min(1).optional(),
    matchers: z.array(z.string()).optional(),
    continue: z.boolean().optional(),
    group_by: z
      .array(
        z.string().regex(/^(?:[A-Za-z_][A-Za-z0-9_]*|\.\.\.)$/, 'a group_by entry is a label name (letters, digits and _) or `...` (group by every label)'),
      )
      .refine((g) => !g.includes('...') || g.length === 1, {
        message: "cannot have `...` (group by every label) and other labels at the same time (as in Alertmanager): write group_by: ['...'] alone",
      })
      .optional(),
    group_wait: duration.optional(),
    group_interval: duration.optional(),
    repeat_interval: duration.optional(),
    pending_for: duration.optional(),
    resolve_wait: duration.optional(),
    mute_time_intervals: z.array(z.string().min(1)).optional(),
    active_time_intervals: z.array(z.string().min(1)).optional(),
    slack_actions: slackActionsSchema.optional(),
    routes: z.array(routeSchema).optional(),
  }),
);
