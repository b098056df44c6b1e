import { createHash } from 'node:crypto';
import type { RouteConfig, SlackActionsConfig } from './route-config.ts';
import { compileMatcher, formatMatcher, matchesAll, parseMatchers, type Matcher } from './matcher.ts';

/** Alertmanager's timer defaults. */
/** `group_by: ['...']`: group by every label (Alertmanager's GroupByAll). */
export const GROUP_BY_ALL = '...';

export const ROUTE_DEFAULTS = {
  groupBy: ['cluster', 'tool', 'owner_kind', 'owner_namespace', 'owner'],
  groupWaitMs: 30_000,
  groupIntervalMs: 300_000,
  repeatIntervalMs: 4 * 3_600_000,
  pendingForMs: 0,
  // meshdrift's own (Alertmanager tells a resolve at the group's next group_interval tick):
  // docs/reference.md, "resolve_wait".
  resolveWaitMs: 30_000,
} as const;

export interface RouteSettings {
  receiver: string;
  groupBy: readonly string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  pendingForMs: number;
  /** Wait before a fully resolved group is told so (the all-clear), instead of group_interval. */
  resolveWaitMs: number;
  /** Slack button authorization; unset all the way up: MESHDRIFT_SLACK_ALLOWED_USERS decides. */
  slackActions?: Readonly<SlackActionsConfig> | undefined;
}

export interface CompiledRoute extends RouteSettings {
  /**
   * The route's identity, stable across reloads (routeIdentity): `route` for the root,
   * `name:<name>` for a named route, `content:<hash>` otherwise. Alert groups, Slack permissions
   * and time intervals are looked up by it; never by position.
   */
  readonly id: string;
  /** `route`, `route.routes[0]`, …, with the name if any: where it is in the file (reasons show it). */
  readonly path: string;
  readonly name?: string | undefined;
  readonly matchers: readonly Matcher[];
  readonly continue: boolean;
  readonly muteTimeIntervals: readonly string[];
  readonly activeTimeIntervals: readonly string[];
  readonly routes: readonly CompiledRoute[];
}

/** The root's identity: there is one root, whatever it holds (and the old positional id agreed). */
export const ROOT_ROUTE_ID = 'route';

/**
 * A route's identity (issue #12): its `name` when it has one (unique in the tree, so it may be
 * moved and edited freely), else a hash of what it is: its matchers (as a set, in canonical
 * form), its own receiver and group_by (as written, unset when inherited) and its parent's
 * identity. Never its position: swapping two routes changes no identity. Alertmanager keys its
 * groups the same way (dispatch/route.go: Route.Key is the parent's key plus the matchers).
 * Siblings with the very same content are told apart by their order among themselves (`-2`, …).
 */
export function routeIdentity(config: RouteConfig, parentId: string): string {
  if (config.name !== undefined) return `name:${config.name}`;
  const matchers = (config.matchers ?? []).flatMap((m) => parseMatchers(m).map(formatMatcher)).sort();
  const content = JSON.stringify([parentId, matchers, config.receiver ?? null, config.group_by ?? null]);
  return `content:${createHash('sha256').update(content).digest('hex').slice(0, 16)}`;
}

/**
 * Compiles the routing tree once: matchers parsed, regexes built, and every unset parameter
 * inherited from the parent (children inherit receiver, group_by and timers, as in Alertmanager, and
 * slack_actions).
 * Throws MatcherError on a bad matcher; config/load.ts reports it with its position. Throws on
 * a route name used twice (load.ts reports that first, with both positions).
 */
export function compileRoute(config: RouteConfig, parent: RouteSettings): CompiledRoute {
  const seen = new Set<string>();
  return compileNode(config, parent, ROOT_ROUTE_ID, ROOT_ROUTE_ID, seen);
}

function compileNode(config: RouteConfig, parent: RouteSettings, id: string, path: string, seen: Set<string>): CompiledRoute {
  if (seen.has(id)) throw new Error(`route ${path}: the identity ${id} is used twice (route names must be unique)`);
  seen.add(id);
  const settings: RouteSettings = {
    receiver: config.receiver ?? parent.receiver,
    groupBy: config.group_by ?? parent.groupBy,
    groupWaitMs: config.group_wait ?? parent.groupWaitMs,
    groupIntervalMs: config.group_interval ?? parent.groupIntervalMs,
    repeatIntervalMs: config.repeat_interval ?? parent.repeatIntervalMs,
    pendingForMs: config.pending_for ?? parent.pendingForMs,
    resolveWaitMs: config.resolve_wait ?? parent.resolveWaitMs,
    slackActions: config.slack_actions ?? parent.slackActions,
  };
  const occurrences = new Map<string, number>();
  return {
    ...settings,
    id,
    path: config.name === undefined ? path : `${path} (${config.name})`,
    ...(config.name === undefined ? {} : { name: config.name }),
    matchers: (config.matchers ?? []).flatMap((m) => parseMatchers(m).map(compileMatcher)),
    continue: config.continue ?? false,
    muteTimeIntervals: config.mute_time_intervals ?? [],
    activeTimeIntervals: config.active_time_intervals ?? [],
    routes: (config.routes ?? []).map((child, i) => {
      const base = routeIdentity(child, id);
      const n = (occurrences.get(base) ?? 0) + 1;
      occurrences.set(base, n);
      return compileNode(child, settings, n === 1 || child.name !== undefined ? base : `${base}-${n}`, `${path}.routes[${i}]`, seen);
    }),
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
