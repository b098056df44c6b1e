import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../../src/classify/catalog.ts';
import { classify, defaultPolicy, type ClassifyPolicy } from '../../../src/classify/classify.ts';
import { loadPolicyFile, loadPolicyText } from '../../../src/config/load.ts';
import type { ResourceState, Signal } from '../../../src/model/signal.ts';
import { applySignal, flush } from '../../../src/track/decide.ts';
import type { GroupState } from '../../../src/track/group-state.ts';
import { groupInputs } from '../../../src/track/grouping.ts';

/**
 * Issue #19 item 5: meshdrift promises mesh drift. Drift of a kind outside the mesh catalog (a
 * Deployment) is tracked and listed, not notified, unless the policy says notify_non_mesh: true.
 */

const owner = { kind: 'Application', namespace: 'argocd', name: 'shop' };
const deployment: ResourceState = { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web', state: 'Modified' };
const virtualService: ResourceState = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'shop', name: 'web', state: 'Modified' };

function signal(resources: ResourceState[], over: Partial<Signal> = {}): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'prod-eu-1',
    owner,
    project: 'default',
    destination: {},
    observedAt: 0,
    completeness: 'snapshot',
    resources,
    ...over,
  };
}

/** Tracks a signal's findings in their groups and runs every flush due: the notifications that would go out. */
function notifications(s: Signal, policy: ClassifyPolicy): { sent: string[][]; groups: GroupState[] } {
  const sent: string[][] = [];
  const groups: GroupState[] = [];
  for (const input of groupInputs(s, classify(s, policy), policy.route)) {
    const state = applySignal(null, input, 0).next;
    if (!state?.pendingFlush) continue;
    const r = flush(state, state.pendingFlush.seq, { now: state.pendingFlush.dueAt });
    if (r.notification) sent.push(r.notification.firing.map((f) => f.resource.kind));
    if (r.next) groups.push(r.next);
  }
  return { sent, groups };
}

const SHIPPED = ['config/policy.example.yaml', 'deploy/kubernetes/base/policy.yaml', 'deploy/compose/policy-alertmanager.yaml'];

describe('non-mesh drift', () => {
  const builtIn = defaultPolicy(createCatalog(), ['console']);

  it('is classified, routed and kept, but marked unnotified, with the reason explain prints', () => {
    const [f] = classify(signal([deployment]), builtIn);
    expect(f).toMatchObject({ category: 'non-mesh', severity: 'low', receivers: ['console'], unnotified: 'non-mesh' });
    expect(f?.reasons).toContain('not notified: non-mesh drift (tracked and listed; set notify_non_mesh: true in the policy to be told)');
    const [mesh] = classify(signal([virtualService]), builtIn);
    expect(mesh?.unnotified).toBeUndefined();
  });

  it.each<[string, Signal]>([
    [
      'an Argo CD app that cannot be compared',
      signal([{ group: 'argoproj.io', kind: 'Application', namespace: 'argocd', name: 'shop', state: 'Unreachable' }]),
    ],
    ['a cluster meshdrift cannot read', signal([{ group: 'meshdrift.io', kind: 'Cluster', namespace: '', name: 'prod-eu-1', state: 'Unreachable' }])],
    [
      "a Flux Kustomization's own apply failure",
      signal([{ group: 'kustomize.toolkit.fluxcd.io', kind: 'Kustomization', namespace: 'flux-system', name: 'mesh', state: 'ApplyFailed' }], {
        source: 'flux-watch',
        owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' },
      }),
    ],
  ])('is not what %s is: that is always notified', (_what, s) => {
    const [f] = classify(s, builtIn);
    expect(f?.category).toBe('non-mesh');
    expect(f?.unnotified).toBeUndefined();
  });

  it('a Deployment drift sends nothing with the built-in policy; the group is kept (the API lists it)', () => {
    const { sent, groups } = notifications(signal([deployment]), builtIn);
    expect(sent).toEqual([]);
    expect(groups.map((g) => Object.values(g.findings).map((f) => [f.resource.kind, f.status, f.unnotified]))).toEqual([
      [['Deployment', 'firing', 'non-mesh']],
    ]);
  });

  it('beside mesh drift it is left out of the message, and does not hold back the all-clear', () => {
    const policy = builtIn;
    const s = signal([deployment, virtualService]);
    const [input] = groupInputs(s, classify(s, policy), policy.route);
    const fired = applySignal(null, input as NonNullable<typeof input>, 0).next as GroupState;
    const first = flush(fired, fired.pendingFlush?.seq ?? 0, { now: fired.pendingFlush?.dueAt ?? 0 });
    expect(first.notification?.firing.map((f) => f.resource.kind)).toEqual(['VirtualService']);
    // The VirtualService is back in sync, the Deployment is not: the group is told resolved.
    const s2 = signal([deployment], { observedAt: 1 });
    const [input2] = groupInputs(s2, classify(s2, policy), policy.route);
    const synced = applySignal(first.next, input2 as NonNullable<typeof input2>, 100_000).next as GroupState;
    const resolved = flush(synced, synced.pendingFlush?.seq ?? 0, { now: synced.pendingFlush?.dueAt ?? 0 });
    expect(resolved.notification).toMatchObject({ reason: 'resolved', status: 'resolved', firing: [] });
    expect(resolved.next?.findings[input?.findings[0]?.fingerprint ?? '']?.status).toBe('firing');
  });

  it.each(SHIPPED)('a Deployment drift sends nothing with the shipped %s', async (file) => {
    const loaded = await loadPolicyFile(new URL(`../../../${file}`, import.meta.url).pathname);
    if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.message).join('; '));
    expect(loaded.policy.classify.notifyNonMesh).toBe(false);
    const { sent, groups } = notifications(signal([deployment]), loaded.policy.classify);
    expect(sent).toEqual([]);
    expect(groups.length).toBeGreaterThan(0);
    // The same policy still tells mesh drift.
    expect(notifications(signal([virtualService]), loaded.policy.classify).sent.length).toBeGreaterThan(0);
  });

  it('notify_non_mesh: true in the policy: notified like any finding', () => {
    const loaded = loadPolicyText('notify_non_mesh: true\nreceivers: [{ name: log, console: {} }]\nroute: { receiver: log }\n', 'policy.yaml');
    if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.message).join('; '));
    const [f] = classify(signal([deployment]), loaded.policy.classify);
    expect(f?.unnotified).toBeUndefined();
    expect(notifications(signal([deployment]), loaded.policy.classify).sent).toEqual([['Deployment']]);
  });

  it('a policy reload that turns notify_non_mesh on tells the finding already tracked', () => {
    const s = signal([deployment]);
    const [quiet] = groupInputs(s, classify(s, builtIn), builtIn.route);
    const kept = applySignal(null, quiet as NonNullable<typeof quiet>, 0).next as GroupState;
    const untold = flush(kept, kept.pendingFlush?.seq ?? 0, { now: kept.pendingFlush?.dueAt ?? 0 });
    expect(untold.notification).toBeNull();
    expect(untold.next?.pendingFlush).toBeNull();
    const loud = { ...builtIn, notifyNonMesh: true };
    const again = signal([deployment], { observedAt: 1 });
    const [input] = groupInputs(again, classify(again, loud), loud.route);
    const applied = applySignal(untold.next as GroupState, input as NonNullable<typeof input>, 60_000);
    expect(applied.changed).toBe(true);
    const state = applied.next as GroupState;
    expect(Object.values(state.findings)[0]?.unnotified).toBeUndefined();
    expect(flush(state, state.pendingFlush?.seq ?? 0, { now: state.pendingFlush?.dueAt ?? 0 }).notification).toMatchObject({ reason: 'first' });
  });
});
