import { describe, expect, it } from 'vitest';
import { fingerprintOf, groupKeyOf } from '../../../src/model/fingerprint.ts';
import { jobIdOf } from '../../../src/queue/job-ids.ts';

const owner = { kind: 'Application', namespace: 'argocd', name: 'payments' };
const vs = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };

describe('fingerprints', () => {
  it('is stable and 32 hex characters', () => {
    expect(fingerprintOf('prod', 'argocd', owner, vs)).toBe(fingerprintOf('prod', 'argocd', { ...owner }, { ...vs }));
    expect(fingerprintOf('prod', 'argocd', owner, vs)).toMatch(/^[0-9a-f]{32}$/);
  });

  it.each([
    ['cluster', () => fingerprintOf('staging', 'argocd', owner, vs)],
    ['tool', () => fingerprintOf('prod', 'flux', owner, vs)],
    ['owner', () => fingerprintOf('prod', 'argocd', { ...owner, name: 'other' }, vs)],
    ['group', () => fingerprintOf('prod', 'argocd', owner, { ...vs, group: 'gateway.networking.k8s.io' })],
    ['namespace', () => fingerprintOf('prod', 'argocd', owner, { ...vs, namespace: 'other' })],
    ['boundaries', () => fingerprintOf('prod', 'argocd', owner, { ...vs, namespace: 'payments/payments', name: 'x' })],
  ])('changes with %s', (_what, other) => {
    expect(other()).not.toBe(fingerprintOf('prod', 'argocd', owner, vs));
  });

  it('group keys and job ids are BullMQ-safe (no colon, not all digits)', () => {
    expect(groupKeyOf('route', { cluster: 'prod', owner: 'payments' })).toMatch(/^[0-9a-f]{32}$/);
    // Label order does not matter; route and values do.
    expect(groupKeyOf('route', { owner: 'payments', cluster: 'prod' })).toBe(groupKeyOf('route', { cluster: 'prod', owner: 'payments' }));
    expect(groupKeyOf('route.routes[0]', { cluster: 'prod', owner: 'payments' })).not.toBe(groupKeyOf('route', { cluster: 'prod', owner: 'payments' }));
    const id = jobIdOf('flush', 'abc', 3);
    expect(id).toMatch(/^flush-[0-9a-f]{32}$/);
    expect(id).not.toContain(':');
    expect(jobIdOf('flush', 'abc', 3)).toBe(id);
    expect(jobIdOf('flush', 'abc', 4)).not.toBe(id);
  });
});
