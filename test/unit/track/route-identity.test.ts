import { describe, expect, it } from 'vitest';
import { classify, type ClassifyPolicy } from '../../../src/classify/classify.ts';
import { formatPolicyError, loadPolicyText } from '../../../src/config/load.ts';
import type { DriftState, Signal } from '../../../src/model/signal.ts';
import { applySignal, flush, type SignalInput } from '../../../src/track/decide.ts';
import { groupKeyOf } from '../../../src/model/fingerprint.ts';
import type { GroupState } from '../../../src/track/group-state.ts';
import { adoptGroups, groupInputs, resolveGroupRoute } from '../../../src/track/grouping.ts';

/**
 * Issue #12: alert groups follow a route's identity (name, else content), never its position;
 * groups stored under other keys (positional ids of older meshdrift, edited routes) are adopted;
 * a finding that a reload only moved is not resolved where it was.
 */

const PROD = `    - matchers: ['owner="payments"']
      slack_actions: { allowed: [U0PROD] }`;
const STAGING = `    - matchers: ['owner="checkout"']
      slack_actions: { allowed: [U0STAGE] }`;

function policy(routes: string): ClassifyPolicy {
  return withRules('', routes);
}

function signal(observedAt: number, resources: Array<{ name: string; state: DriftState | 'InSync' }>, owner = 'payments'): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'prod',
    owner: { kind: 'Application', namespace: 'argocd', name: owner },
    project: 'default',
    destination: {},
    observedAt,
    completeness: 'snapshot',
    resources: resources.map((r) => ({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'mesh', name: r.name, state: r.state })),
  };
}

function inputs(s: Signal, p: ClassifyPolicy): SignalInput[] {
  return groupInputs(s, classify(s, p), p.route);
}

/** One signal through applySignal, as ingest does (reported set for snapshots, empty inputs for the owner's other groups). */
function applyAll(groups: Map<string, GroupState>, s: Signal, p: ClassifyPolicy, now: number): SignalInput[] {
  const findings = classify(s, p);
  let ins = groupInputs(s, findings, p.route);
  const keys = new Set(ins.map((i) => i.groupKey));
  ins = adoptGroups(
    ins,
    [...groups.values()].filter((g) => !keys.has(g.groupKey)),
    p.route,
  );
  const reported = new Map(findings.map((f) => [f.fingerprint, f]));
  const routed = new Set(ins.map((i) => i.groupKey));
  const all: SignalInput[] = [
    ...ins.map((i) => ({ ...i, reported })),
    ...[...groups.keys()]
      .filter((k) => !routed.has(k))
      .map((groupKey) => ({
        groupKey,
        findings: [],
        completeness: 'snapshot' as const,
        scope: ins[0]?.scope ?? { cluster: 'prod', tool: 'argocd' as const, owner: s.owner },
        observedAt: s.observedAt,
        reported,
      })),
  ];
  for (const i of all) {
    const r = applySignal(groups.get(i.groupKey) ?? null, i, now);
    if (r.next === null) groups.delete(i.groupKey);
    else groups.set(i.groupKey, r.next);
  }
  return all;
}

/** Runs every flush due by `until` (minutes, not the 4 h repeat); returns the notifications' reasons by group. */
function flushAll(groups: Map<string, GroupState>, until: number): Record<string, string> {
  const told: Record<string, string> = {};
  for (const [key, state] of groups) {
    if (!state.pendingFlush || state.pendingFlush.dueAt > until) continue;
    const r = flush(state, state.pendingFlush.seq, { now: state.pendingFlush.dueAt });
    if (r.notification) told[key] = r.notification.reason;
    if (r.next === null) groups.delete(key);
    else groups.set(key, r.next);
  }
  return told;
}

const DRIFTED = [{ name: 'vs-1', state: 'Modified' as const }];

describe('alert groups follow route identity', () => {
  it('swapping two routes keeps every group key, label and permission', () => {
    const a = policy(`${PROD}\n${STAGING}`);
    const b = policy(`${STAGING}\n${PROD}`);
    const [before] = inputs(signal(1, DRIFTED), a);
    const [after] = inputs(signal(1, DRIFTED), b);
    expect(after?.groupKey).toBe(before?.groupKey);
    expect(after?.labels?.route).toBe(before?.labels?.route);
    const resolved = resolveGroupRoute(b.route, { route: before?.labels?.route, receiver: 'chat' }, []);
    expect(resolved.by).toBe('id');
    expect(resolved.route.slackActions?.allowed).toEqual(['U0PROD']);
  });

  it('resolves a group stored under an id the policy no longer has by what its findings match now; without findings, the root', () => {
    const b = policy(`${STAGING}\n${PROD}`);
    const findings = classify(signal(1, DRIFTED), b);
    // `route.routes[0]` is how meshdrift before issue #12 named the first child: staging, in this policy.
    const legacy = resolveGroupRoute(b.route, { route: 'route.routes[0]', receiver: 'chat' }, findings);
    expect(legacy.by).toBe('content');
    expect(legacy.route.slackActions?.allowed).toEqual(['U0PROD']);
    expect(resolveGroupRoute(b.route, { route: 'route.routes[0]', receiver: 'chat' }, [])).toMatchObject({ by: 'root', route: { id: 'route' } });
  });

  it('a group stored by older meshdrift (positional route id, key without the receiver) is adopted: no new group, no resolve', () => {
    const a = policy(`${PROD}\n${STAGING}`);
    const [current] = inputs(signal(1, DRIFTED), a);
    if (!current?.labels) throw new Error('no input');
    // What the old code stored: key from the positional id, labels.route positional.
    const legacyKey = groupKeyOf('route.routes[0]', current.labels.groupBy ?? {});
    expect(legacyKey).not.toBe(current.groupKey);
    const old: SignalInput = {
      ...current,
      groupKey: legacyKey,
      labels: { ...current.labels, route: 'route.routes[0]' },
      findings: current.findings.map((f) => ({ ...f, groupKey: legacyKey, routes: ['route.routes[0]'] })),
    };
    const groups = new Map<string, GroupState>();
    const first = applySignal(null, old, 1000).next;
    if (!first) throw new Error('no state');
    groups.set(legacyKey, first);
    expect(flushAll(groups, 100_000)).toEqual({ [legacyKey]: 'first' });

    // The new code, with the routes swapped on top: the same drift again.
    applyAll(groups, signal(2, DRIFTED), policy(`${STAGING}\n${PROD}`), 300_000);
    expect([...groups.keys()]).toEqual([legacyKey]);
    const state = groups.get(legacyKey);
    expect(Object.values(state?.findings ?? {}).map((f) => f.status)).toEqual(['firing']);
    expect(state?.labels.route).toBe(current.labels.route);
    expect(flushAll(groups, 400_000)).toEqual({});
    // And when the drift ends, it resolves there, once.
    applyAll(groups, signal(3, [{ name: 'vs-1', state: 'InSync' }]), policy(`${STAGING}\n${PROD}`), 600_000);
    expect(flushAll(groups, 700_000)).toEqual({ [legacyKey]: 'resolved' });
  });

  it('an unnamed route edited (new identity) keeps its groups by content; a named one keeps its identity', () => {
    const groups = new Map<string, GroupState>();
    applyAll(groups, signal(1, DRIFTED), policy(`${PROD}\n${STAGING}`), 1000);
    flushAll(groups, 100_000);
    const [key] = groups.keys();
    const edited = policy(`    - matchers: ['owner="payments"', 'cluster="prod"']\n      slack_actions: { allowed: [U0NEW] }\n${STAGING}`);
    applyAll(groups, signal(2, DRIFTED), edited, 300_000);
    expect([...groups.keys()]).toEqual([key]);
    const route = resolveGroupRoute(edited.route, groups.get(key ?? '')?.labels ?? {}, []);
    expect(route).toMatchObject({ by: 'id', route: { slackActions: { allowed: ['U0NEW'] } } });
    expect(flushAll(groups, 400_000)).toEqual({});

    const named = (m: string) => policy(`    - name: payments\n      matchers: ['${m}']\n${STAGING}`);
    const [n1] = inputs(signal(1, DRIFTED), named('owner="payments"'));
    const [n2] = inputs(signal(1, DRIFTED), named('owner=~"pay.*"'));
    expect(n2?.groupKey).toBe(n1?.groupKey);
    expect(n1?.labels?.route).toBe('name:payments');
  });

  it('a finding a reload moves to another receiver opens there and stays firing in its old group until it really resolves', () => {
    const groups = new Map<string, GroupState>();
    applyAll(groups, signal(1, DRIFTED), policy(`${PROD}\n${STAGING}`), 1000);
    flushAll(groups, 100_000);
    const [old] = groups.keys();
    const moved = policy(`    - matchers: ['owner="payments"']\n      receiver: other\n${STAGING}`);
    applyAll(groups, signal(2, DRIFTED), moved, 300_000);
    expect(groups.size).toBe(2);
    expect(Object.values(groups.get(old ?? '')?.findings ?? {}).map((f) => f.status)).toEqual(['firing']);
    const told = flushAll(groups, 400_000);
    // The new receiver is told; the old group says nothing (no false "resolved").
    expect(Object.entries(told)).toEqual([[expect.not.stringMatching(old ?? ''), 'first']]);
    applyAll(groups, signal(3, [{ name: 'vs-1', state: 'InSync' }]), moved, 600_000);
    expect(Object.values(flushAll(groups, 700_000)).sort()).toEqual(['resolved', 'resolved']);
  });

  it('a finding that changed (severity) still resolves in the group it left, as before', () => {
    const pager = `    - matchers: ['severity="critical"']\n      receiver: other\n      continue: true\n${PROD}`;
    const groups = new Map<string, GroupState>();
    const critical = `rules:\n  - { match: { name: vs-1 }, set: { severity: critical } }\n`;
    applyAll(groups, signal(1, DRIFTED), withRules(critical, pager), 1000);
    flushAll(groups, 100_000);
    expect(groups.size).toBe(2);
    // The rule is gone: vs-1 is high now and leaves the pager route; the pager group resolves it.
    applyAll(groups, signal(2, DRIFTED), policy(pager), 300_000);
    const reasons = Object.values(flushAll(groups, 400_000));
    expect(reasons).toEqual(['resolved']);
  });
});

function withRules(rules: string, routes: string): ClassifyPolicy {
  const text = `${rules}receivers:
  - { name: chat, console: {} }
  - { name: other, console: {} }
route:
  receiver: chat
  routes:
${routes}
`;
  const loaded = loadPolicyText(text, 'p.yaml');
  if (!loaded.ok) throw new Error(loaded.errors.map(formatPolicyError).join('\n'));
  return loaded.policy.classify;
}
