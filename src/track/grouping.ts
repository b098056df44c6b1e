import type { GroupLabels } from '../model/alert-group.ts';
import { findingLabels, type Finding } from '../model/finding.ts';
import { toolOf, type Signal } from '../model/signal.ts';
import { GROUP_BY_ALL, matchRoutes, type CompiledRoute } from '../route/route.ts';
import type { SignalInput, SignalScope } from './decide.ts';
import { groupKeyOf } from '../model/fingerprint.ts';
import type { GroupState, Timing } from './group-state.ts';

const indexes = new WeakMap<CompiledRoute, Map<string, CompiledRoute>>();

/** Every node of a route tree by id (computed once per compiled tree). */
export function routeIndex(root: CompiledRoute): Map<string, CompiledRoute> {
  let index = indexes.get(root);
  if (!index) {
    const built = new Map<string, CompiledRoute>();
    const walk = (r: CompiledRoute) => {
      built.set(r.id, r);
      r.routes.forEach(walk);
    };
    walk(root);
    indexes.set(root, built);
    index = built;
  }
  return index;
}

export function timingOf(route: CompiledRoute): Timing {
  return {
    groupWaitMs: route.groupWaitMs,
    groupIntervalMs: route.groupIntervalMs,
    repeatIntervalMs: route.repeatIntervalMs,
    pendingForMs: route.pendingForMs,
    resolveWaitMs: route.resolveWaitMs,
  };
}

export function scopeOf(signal: Signal): SignalScope {
  return { cluster: signal.cluster, tool: toolOf(signal.source, signal.owner), owner: signal.owner, ...(signal.covers ? { covers: signal.covers } : {}) };
}

/**
 * Splits a signal's findings into alert groups, Alertmanager style: a finding joins one group per
 * route it reached, keyed by the route and the values of its group_by labels, and carries that
 * route's receiver there. Pure.
 */
export function groupInputs(signal: Signal, findings: readonly Finding[], root: CompiledRoute): SignalInput[] {
  const routes = routeIndex(root);
  const scope = scopeOf(signal);
  const groups = new Map<string, SignalInput & { findings: Finding[] }>();
  for (const f of findings) {
    const labels = findingLabels(f);
    for (const id of f.routes ?? [root.id]) {
      const route = routes.get(id) ?? root;
      // `...` groups by every label, as Alertmanager's GroupByAll: each distinct label set its own group.
      const groupBy = route.groupBy.includes(GROUP_BY_ALL) ? { ...labels } : Object.fromEntries(route.groupBy.map((name) => [name, labels[name] ?? '']));
      const groupKey = groupKeyOf(route.id, groupBy, route.receiver);
      let input = groups.get(groupKey);
      if (!input) {
        const groupLabels: GroupLabels = {
          cluster: f.cluster,
          tool: f.tool,
          owner: f.owner,
          project: f.project,
          route: route.id,
          receiver: route.receiver,
          groupBy,
        };
        input = {
          groupKey,
          labels: groupLabels,
          timing: timingOf(route),
          findings: [],
          completeness: signal.completeness,
          scope,
          observedAt: signal.observedAt,
          ...(signal.comparedAt !== undefined ? { comparedAt: signal.comparedAt } : {}),
        };
        groups.set(groupKey, input);
      }
      input.findings.push({ ...f, groupKey, receivers: [route.receiver] });
    }
  }
  return [...groups.values()];
}

/** How a group's route was found: by its stored identity, by what its findings match now, or the root. */
export type RouteResolution = { route: CompiledRoute; by: 'id' | 'content' | 'root' };

/**
 * The route a stored alert group belongs to in the policy in force, for everything keyed by the
 * route (time intervals, Slack permissions, adoption below). By its stored identity when the
 * policy still has it. Otherwise (a group stored under a positional id by meshdrift before
 * issue #12, or whose route was edited without a `name` or deleted) by content: the first route
 * the group's findings (firing ones first) reach now whose receiver is the group's; else the first
 * route they reach; a group without findings falls back to the root. Pure.
 */
export function resolveGroupRoute(root: CompiledRoute, labels: Pick<GroupLabels, 'route' | 'receiver'>, findings: readonly Finding[]): RouteResolution {
  const byId = labels.route === undefined ? undefined : routeIndex(root).get(labels.route);
  if (byId) return { route: byId, by: 'id' };
  const ordered = [...findings].sort((a, b) => Number('status' in b && b.status === 'firing') - Number('status' in a && a.status === 'firing'));
  let first: CompiledRoute | undefined;
  for (const f of ordered) {
    const reached = matchRoutes(root, findingLabels(f));
    first ??= reached[0];
    const same = reached.find((r) => r.receiver === labels.receiver);
    if (same) return { route: same, by: 'content' };
  }
  return first ? { route: first, by: 'content' } : { route: root, by: 'root' };
}

function sameValues(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/**
 * Keeps findings in the alert group they are in when only the group's key changed, not the
 * group: a group stored under another key (by meshdrift before route identities, whose keys came
 * from positional route ids; or under an identity an edit of an unnamed route changed) that
 * resolves (resolveGroupRoute) to the same route, with the same receiver and the same group_by
 * values, takes the signal's findings instead of a new group being opened. Without this, such an
 * upgrade or reload would open a second alert for every drifted finding (and the old one would
 * linger). `existing` are the owner's stored groups no input is keyed to. Pure.
 */
export function adoptGroups(inputs: readonly SignalInput[], existing: readonly GroupState[], root: CompiledRoute): SignalInput[] {
  const taken = new Set<string>();
  const keys = new Set(inputs.map((i) => i.groupKey));
  const candidates = existing
    .filter((g) => !keys.has(g.groupKey))
    .sort((a, b) => a.createdAt - b.createdAt || a.groupKey.localeCompare(b.groupKey))
    .map((g) => ({ state: g, route: resolveGroupRoute(root, g.labels, Object.values(g.findings)).route.id }));
  return inputs.map((input) => {
    const labels = input.labels;
    if (!labels) return input;
    const found = candidates.find(
      (c) =>
        !taken.has(c.state.groupKey) &&
        c.route === labels.route &&
        c.state.labels.receiver === labels.receiver &&
        sameValues(c.state.labels.groupBy, labels.groupBy),
    );
    if (!found) return input;
    taken.add(found.state.groupKey);
    const groupKey = found.state.groupKey;
    return { ...input, groupKey, findings: input.findings.map((f) => ({ ...f, groupKey })) };
  });
}
