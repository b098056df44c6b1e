import { describe, expect, it } from 'vitest';
import {
  decideLease,
  leaseExpiresAt,
  microTimeString,
  nextLeaseSpec,
  parseLease,
  shouldStepDown,
  type LeaseRecord,
} from '../../../../src/sources/kube/lease.ts';

const T = Date.parse('2026-03-01T12:00:00Z');
const lease = (over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: 'other',
  leaseDurationSeconds: 15,
  acquireTime: T - 60_000,
  renewTime: T,
  leaseTransitions: 3,
  resourceVersion: '42',
  ...over,
});

describe('lease timing decisions', () => {
  it('creates a lease that does not exist', () => {
    expect(decideLease(undefined, 'me', T)).toEqual({ action: 'create' });
  });

  it('renews a lease it holds, even an expired one', () => {
    expect(decideLease(lease({ holderIdentity: 'me' }), 'me', T + 5_000)).toEqual({ action: 'renew' });
    expect(decideLease(lease({ holderIdentity: 'me' }), 'me', T + 60_000)).toEqual({ action: 'renew' });
  });

  it('waits while another holder’s lease is valid, up to and including renewTime + duration', () => {
    expect(decideLease(lease(), 'me', T + 1_000)).toEqual({ action: 'wait', holder: 'other', expiresAt: T + 15_000 });
    expect(decideLease(lease(), 'me', T + 15_000)).toMatchObject({ action: 'wait' });
  });

  it('acquires once renewTime + leaseDurationSeconds < now', () => {
    expect(decideLease(lease(), 'me', T + 15_001)).toEqual({ action: 'acquire' });
  });

  it('acquires a released lease (holder empty) at once', () => {
    expect(decideLease(lease({ holderIdentity: '', leaseDurationSeconds: 1 }), 'me', T)).toEqual({ action: 'acquire' });
  });

  it('treats a held lease with no renewTime as expired', () => {
    const { renewTime: _, ...noRenew } = lease();
    expect(decideLease(noRenew, 'me', T)).toEqual({ action: 'acquire' });
    expect(leaseExpiresAt(noRenew)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('steps down only when the last renewal is older than the renew deadline', () => {
    expect(shouldStepDown(T, T + 10_000, 10_000)).toBe(false);
    expect(shouldStepDown(T, T + 10_001, 10_000)).toBe(true);
    expect(shouldStepDown(T, T + 2_000, 10_000)).toBe(false);
  });

  it('writes a new term on acquire, keeps the term on renew', () => {
    const held = lease();
    expect(nextLeaseSpec({ action: 'acquire' }, held, 'me', T + 20_000, 15)).toEqual({
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: T + 20_000,
      renewTime: T + 20_000,
      leaseTransitions: 4,
    });
    const mine = lease({ holderIdentity: 'me' });
    expect(nextLeaseSpec({ action: 'renew' }, mine, 'me', T + 2_000, 15)).toEqual({
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: T - 60_000,
      renewTime: T + 2_000,
      leaseTransitions: 3,
    });
    // Taking a released lease is not a transition (client-go counts changes of named holder).
    expect(nextLeaseSpec({ action: 'acquire' }, lease({ holderIdentity: '' }), 'me', T, 15)?.leaseTransitions).toBe(3);
    expect(nextLeaseSpec({ action: 'create' }, undefined, 'me', T, 15)).toMatchObject({ leaseTransitions: 0, acquireTime: T, renewTime: T });
    expect(nextLeaseSpec({ action: 'wait', holder: 'other', expiresAt: T }, held, 'me', T, 15)).toBeUndefined();
  });

  it('reads and writes RFC 3339 MicroTime', () => {
    expect(microTimeString(Date.parse('2026-03-01T12:00:00.123Z'))).toBe('2026-03-01T12:00:00.123000Z');
    const parsed = parseLease({
      metadata: { name: 'meshdrift-watch', namespace: 'default', resourceVersion: '7' },
      spec: {
        holderIdentity: 'pod-a_1234',
        leaseDurationSeconds: 15,
        acquireTime: '2026-03-01T11:59:00.000000Z',
        renewTime: '2026-03-01T12:00:00.123456Z',
        leaseTransitions: 2,
      },
    });
    expect(parsed).toEqual({
      holderIdentity: 'pod-a_1234',
      leaseDurationSeconds: 15,
      acquireTime: T - 60_000,
      renewTime: T + 123,
      leaseTransitions: 2,
      resourceVersion: '7',
    });
    expect(parseLease({ metadata: { name: 'x' } })).toEqual({ holderIdentity: '', leaseDurationSeconds: 0, leaseTransitions: 0, resourceVersion: '' });
    expect(() => parseLease({ spec: {} })).toThrow();
  });
});
