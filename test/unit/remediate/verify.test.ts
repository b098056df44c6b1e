import { describe, expect, it } from 'vitest';
import { createFluxReconcileClient, type KubeHttp } from '../../../src/remediate/flux-reconcile.ts';
import { decideVerify, verifyPollMs, type VerifyTicket } from '../../../src/remediate/verify.ts';

const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
const DR = { group: 'networking.istio.io', kind: 'DestinationRule', namespace: 'payments', name: 'payments' };
const T0 = 1_800_000_000_000;
const ticket = (over: Partial<VerifyTicket> = {}): VerifyTicket => ({
  receiver: 'auto-sync',
  action: 'argocd-sync',
  actionId: 'a1',
  actor: 'meshdrift',
  cluster: 'prod',
  tool: 'argocd',
  owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
  resources: [VS, DR],
  fingerprints: ['f1', 'f2'],
  groupKey: 'g',
  seq: 1,
  startedAt: T0,
  deadline: T0 + 300_000,
  pollMs: 10_000,
  ...over,
});

describe('decideVerify', () => {
  it.each([
    [
      'all Synced, nothing running',
      { pending: false, synced: [VS, DR] },
      T0 + 12_000,
      { state: 'verified', reason: 'Sync by meshdrift verified: 2 resources Synced after 12 s' },
    ],
    ['one left, before the deadline', { pending: false, synced: [VS] }, T0 + 12_000, { state: 'pending' }],
    ['operation running, before the deadline', { pending: true, synced: [VS, DR] }, T0 + 12_000, { state: 'pending' }],
    [
      'one left at the deadline',
      { pending: false, synced: [VS] },
      T0 + 300_000,
      { state: 'verify-failed', reason: 'Sync did not converge within 5m: 1 resource still out of sync (DestinationRule payments/payments)' },
    ],
    [
      'still running at the deadline',
      { pending: true, synced: [] },
      T0 + 300_000,
      { state: 'verify-failed', reason: 'Sync did not converge within 5m: the sync operation is still running' },
    ],
    [
      'the tool says it failed',
      { pending: false, synced: [], failed: 'operation Failed: hook failed' },
      T0 + 1_000,
      { state: 'verify-failed', reason: 'Sync by meshdrift failed: operation Failed: hook failed' },
    ],
  ] as const)('%s', (_name, observation, now, expected) => {
    expect(decideVerify(ticket(), observation, now)).toEqual(expected);
  });

  it('an unreadable tool waits, then fails at the deadline naming why', () => {
    expect(decideVerify(ticket(), undefined, T0 + 1_000, 'argocd request timed out')).toEqual({ state: 'pending' });
    expect(decideVerify(ticket(), undefined, T0 + 300_000, 'argocd request timed out')).toEqual({
      state: 'verify-failed',
      reason: 'Sync did not converge within 5m: could not read the result (argocd request timed out)',
    });
  });

  it('polls a tenth of the timeout, within 100 ms … 10 s', () => {
    expect([verifyPollMs(300_000), verifyPollMs(2_000), verifyPollMs(300)]).toEqual([10_000, 200, 100]);
  });
});

describe('Flux observe: lastHandledReconcileAt echoes the token, then Ready', () => {
  const owner = { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' };
  const withStatus = (status: unknown): KubeHttp => ({
    request: async () => ({ status: 200, body: JSON.stringify({ metadata: { name: 'mesh' }, spec: {}, status }) }),
  });
  const target = { resources: [VS], requestedAt: '2026-11-24T10:00:00.12Z' };
  it.each([
    ['not handled yet', { lastHandledReconcileAt: 'older' }, { pending: true, synced: [] }],
    ['handled and Ready', { lastHandledReconcileAt: target.requestedAt, conditions: [{ type: 'Ready', status: 'True' }] }, { pending: false, synced: [VS] }],
    [
      'handled, not Ready',
      { lastHandledReconcileAt: target.requestedAt, conditions: [{ type: 'Ready', status: 'False', reason: 'ReconciliationFailed', message: 'apply failed' }] },
      { pending: false, synced: [], failed: 'not Ready (ReconciliationFailed: apply failed)' },
    ],
  ] as const)('%s', async (_name, status, observation) => {
    const client = createFluxReconcileClient({ http: withStatus(status), now: () => T0 });
    expect(await client.observe(owner, target)).toEqual({ ok: true, observation });
  });

  it('a verdict names the reconcile', () => {
    const t = ticket({ action: 'flux-reconcile', tool: 'flux', owner, resources: [VS] });
    expect(decideVerify(t, { pending: false, synced: [VS] }, T0 + 3_000)).toEqual({
      state: 'verified',
      reason: 'Reconcile by meshdrift verified: Kustomization flux-system/mesh reconciled and Ready after 3 s',
    });
  });
});
