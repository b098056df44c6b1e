import type { GroupLabels } from '../model/alert-group.ts';
import { findingLabels, type Finding } from '../model/finding.ts';
import { toolOf, type Signal } from '../model/signal.ts';
import type { CompiledRoute } from '../route/route.ts';
import type { SignalInput, SignalScope } from './decide.ts';
import { groupKeyOf } from './fingerprint.ts';
import type { Timing } from './group-state.ts';

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
  return { groupWaitMs: route.groupWaitMs, groupIntervalMs: route.groupIntervalMs, repeatIntervalMs: route.repeatIntervalMs, pendingForMs: route.pendingForMs };
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
      const groupBy = Object.fromEntries(route.groupBy.map((name) => [name, labels[name] ?? '']));
      const groupKey = groupKeyOf(route.id, groupBy);
      let input = groups.get(groupKey);
      if (!input) {
        const groupLabels: GroupLabels = { cluster: f.cluster, tool: f.tool, owner: f.owner, project: f.project, route: route.id, receiver: route.receiver, groupBy };
        input = { groupKey, labels: groupLabels, timing: timingOf(route), findings: [], completeness: signal.completeness, scope, observedAt: signal.observedAt };
        groups.set(groupKey, input);
      }
      input.findings.push({ ...f, groupKey, receivers: [route.receiver] });
    }
  }
  return [...groups.values()];
}
