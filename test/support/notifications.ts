import type { GroupLabels, Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import type { Finding } from '../../src/model/finding.ts';
import type { OwnerRef, ResourceRef } from '../../src/model/signal.ts';

/** 2025-01-15T10:00:00Z: when the built findings were observed and first seen. */
export const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);

/** The Argo CD Application that owns the built findings. */
export const PAYMENTS_APP: Readonly<OwnerRef> = { kind: 'Application', namespace: 'argocd', name: 'payments' };

/** Overrides of a built finding; `resource` is merged into the default one rather than replacing it. */
export type FindingOverrides<F extends Finding = Finding> = Omit<Partial<F>, 'resource'> & { resource?: Partial<ResourceRef> };

/**
 * A classified finding: the AuthorizationPolicy `payments/<name>` of {@link PAYMENTS_APP} on
 * prod-eu, Modified, critical security drift in Istio, fingerprint `fp-<name>`, observed at {@link T0}.
 */
export function makeFinding(name: string, over: FindingOverrides = {}): Finding {
  const { resource, ...rest } = over;
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'g1',
    cluster: 'prod-eu',
    tool: 'argocd',
    owner: { ...PAYMENTS_APP },
    project: 'payments',
    resource: { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name, ...resource },
    state: 'Modified',
    category: 'security',
    mesh: 'istio',
    severity: 'critical',
    receivers: [],
    reasons: ['test'],
    observedAt: T0,
    ...rest,
  };
}

/** {@link makeFinding} as the tracker holds it: firing, first and last seen at {@link T0}. */
export function makeTrackedFinding(name: string, over: FindingOverrides<TrackedFinding> = {}): TrackedFinding {
  const { resource, ...rest } = over;
  return {
    ...makeFinding(name, resource === undefined ? {} : { resource }),
    firstSeen: T0,
    lastSeen: T0,
    status: 'firing',
    ...rest,
  };
}

/** The labels of a group of {@link PAYMENTS_APP} findings on `cluster`. */
export function paymentsGroupLabels(cluster = 'prod-eu'): GroupLabels {
  return { cluster, tool: 'argocd', owner: { ...PAYMENTS_APP }, project: 'payments' };
}

/**
 * The first, critical notification of group `g1` ({@link paymentsGroupLabels}): one firing finding,
 * `allow-checkout`, first seen at {@link T0}, sent a minute later.
 */
export function makeNotification(over: Partial<Notification> = {}): Notification {
  return {
    groupKey: 'g1',
    seq: 1,
    reason: 'first',
    status: 'firing',
    labels: paymentsGroupLabels(),
    severity: 'critical',
    firing: [makeTrackedFinding('allow-checkout')],
    resolved: [],
    at: T0 + 60_000,
    firstSeen: T0,
    ...over,
  };
}
