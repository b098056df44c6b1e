import type { RouteConfig, SlackActionsConfig } from '../config/policy.ts';
import { compileMatcher, matchesAll, parseMatcher, type Matcher } from './matcher.ts';

/** Alertmanager's timer defaults. */
export const ROUTE_DEFAULTS = {
  groupBy: ['cluster', 'tool', 'owner_kind', 'owner_namespace', 'owner'],
  groupWaitMs: 30_000,
  groupIntervalMs: 300_000,
  repeatIntervalMs: 4 * 3_600_000,
  pendingForMs: 0,
} as const;

export interface RouteSettings {
  receiver: string;
  groupBy: readonly string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  pendingForMs: number;
  /** Slack button authorization; unset all the way up: MESHDRIFT_SLACK_ALLOWED_USERS decides. */
  slackActions?: Readonly<SlackActionsConfig> | undefined;
}

export interface CompiledRoute extends RouteSettings {
  /** `route`, `route.routes[0]`, …: how reasons name it. */
  readonly id: string;
  readonly matchers: readonly Matcher[];
  readonly continue: boolean;
  readonly muteTimeIntervals: readonly string[];
  readonly activeTimeIntervals: readonly string[];
  readonly routes: readonly CompiledRoute[];
}

/**
 * Compiles the routing tree once: matchers parsed, regexes built, and every unset parameter
 * inherited from the parent (children inherit receiver, group_by and timers, as in Alertmanager, and
 * slack_actions).
 * Throws MatcherError on a bad matcher; config/load.ts reports it with its position.
 */
export function compileRoute(config: RouteConfig, parent: RouteSettings, id = 'route'): CompiledRoute {
  const settings: RouteSettings = {
    receiver: config.receiver ?? parent.receiver,
    groupBy: config.group_by ?? parent.groupBy,
    groupWaitMs: config.group_wait ?? parent.groupWaitMs,
    groupIntervalMs: config.group_interval ?? parent.groupIntervalMs,
    repeatIntervalMs: config.repeat_interval ?? parent.repeatIntervalMs,
    pendingForMs: config.pending_for ?? parent.pendingForMs,
    slackActions: config.slack_actions ?? parent.slackActions,
  };
  return {
    ...settings,
    id,
    matchers: (config.matchers ?? []).map((m) => compileMatcher(parseMatcher(m))),
    continue: config.continue ?? false,
    muteTimeIntervals: config.mute_time_intervals ?? [],
    activeTimeIntervals: config.active_time_intervals ?? [],
    routes: (config.routes ?? []).map((child, i) => compileRoute(child, settings, `${id}.routes[${i}]`)),
  };
}

/**
 * The routes a label set reaches: depth-first; the first matching child wins unless it says
 * `continue`; a node none of whose children match handles the labels itself.
 */
export function matchRoutes(route: CompiledRoute, labels: Readonly<Record<string, string | undefined>>): CompiledRoute[] {
  if (!matchesAll(route.matchers, labels)) return [];
  const matched: CompiledRoute[] = [];
  for (const child of route.routes) {
    const found = matchRoutes(child, labels);
    if (found.length === 0) continue;
    matched.push(...found);
    if (!child.continue) break;
  }
  return matched.length > 0 ? matched : [route];
}
