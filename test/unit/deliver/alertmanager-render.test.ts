import { describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import { alertLabels, renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';

const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
const HOUR = 3_600_000;

function finding(name: string, over: Partial<TrackedFinding> = {}): TrackedFinding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'g1',
    cluster: 'prod-eu',
    tool: 'argocd',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
    project: 'payments',
    resource: { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name },
    state: 'Modified',
    category: 'security',
    mesh: 'istio',
    severity: 'critical',
    receivers: ['alertmanager'],
    reasons: ['test'],
    observedAt: T0,
    firstSeen: T0,
    lastSeen: T0,
    status: 'firing',
    ...over,
  };
}

function notification(over: Partial<Notification> = {}): Notification {
  return {
    groupKey: 'g1',
    seq: 1,
    reason: 'first',
    status: 'firing',
    labels: { cluster: 'prod-eu', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' }, project: 'payments' },
    severity: 'critical',
    firing: [finding('allow-checkout')],
    resolved: [],
    at: T0 + 60_000,
    firstSeen: T0,
    ...over,
  };
}

describe('renderAlertmanagerAlerts', () => {
  it('renders one alert per firing finding, with meshdrift labels and endsAt = at + ttl', () => {
    const alerts = renderAlertmanagerAlerts(notification(), { firingTtlMs: HOUR });
    expect(alerts).toEqual([
      {
        labels: {
          alertname: 'MeshDrift',
          cluster: 'prod-eu',
          tool: 'argocd',
          project: 'payments',
          owner_kind: 'Application',
          owner_namespace: 'argocd',
          owner: 'payments',
          group: 'security.istio.io',
          kind: 'AuthorizationPolicy',
          namespace: 'payments',
          name: 'allow-checkout',
          state: 'Modified',
          category: 'security',
          mesh: 'istio',
          severity: 'critical',
        },
        annotations: {
          summary: 'AuthorizationPolicy payments/allow-checkout drifted (Modified) in Application argocd/payments on prod-eu',
          description: expect.stringContaining('critical security drift: AuthorizationPolicy.security.istio.io payments/allow-checkout is Modified.'),
        },
        startsAt: '2025-01-15T10:00:00.000Z',
        endsAt: '2025-01-15T11:01:00.000Z',
      },
    ]);
  });

  it('ends resolved findings at resolvedAt, or at the notification time without one', () => {
    const n = notification({
      status: 'resolved',
      reason: 'resolved',
      firing: [],
      resolved: [
        finding('a', { status: 'resolved', resolvedAt: T0 + 30_000 }),
        finding('b', { status: 'resolved' }),
      ],
    });
    const alerts = renderAlertmanagerAlerts(n, { firingTtlMs: HOUR });
    expect(alerts.map((a) => [a.labels.name, a.endsAt])).toEqual([
      ['a', '2025-01-15T10:00:30.000Z'],
      ['b', '2025-01-15T10:01:00.000Z'],
    ]);
  });

  it('sends firing and resolved findings of one notification together', () => {
    const n = notification({ reason: 'some-resolved', firing: [finding('a')], resolved: [finding('b', { status: 'resolved', resolvedAt: T0 + 1 })] });
    const alerts = renderAlertmanagerAlerts(n, { firingTtlMs: 5 * 60_000 });
    expect(alerts.map((a) => [a.labels.name, a.endsAt])).toEqual([
      ['a', '2025-01-15T10:06:00.000Z'],
      ['b', '2025-01-15T10:00:00.001Z'],
    ]);
  });

  it('omits empty label values (core group, cluster-scoped, no project)', () => {
    const f = finding('default', {
      project: '',
      owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' },
      resource: { group: '', kind: 'Namespace', namespace: '', name: 'default' },
    });
    const labels = alertLabels(f);
    expect(labels).not.toHaveProperty('group');
    expect(labels).not.toHaveProperty('namespace');
    expect(labels).not.toHaveProperty('project');
    expect(Object.values(labels)).not.toContain('');
  });

  it('keeps policy labels but never lets them override the built-in ones', () => {
    const labels = alertLabels(finding('x', { labels: { team: 'payments', severity: 'low' } }));
    expect(labels.team).toBe('payments');
    expect(labels.severity).toBe('critical');
    expect(labels.alertname).toBe('MeshDrift');
  });

  it('never ends an alert before it starts', () => {
    const f = finding('x', { firstSeen: T0 + 10_000, status: 'resolved', resolvedAt: T0 });
    const [alert] = renderAlertmanagerAlerts(notification({ firing: [], resolved: [f] }), { firingTtlMs: HOUR });
    expect(alert?.endsAt).toBe(alert?.startsAt);
  });

  it('sets generatorURL when given, and includes revision and detail in the description', () => {
    const f = finding('x', { revision: 'a1b2c3', detail: '1 changes' });
    const [alert] = renderAlertmanagerAlerts(notification({ firing: [f] }), { firingTtlMs: HOUR, generatorUrl: 'https://meshdrift.example.com/' });
    expect(alert?.generatorURL).toBe('https://meshdrift.example.com/');
    expect(alert?.annotations.description).toContain('Revision: a1b2c3.');
    expect(alert?.annotations.description).toContain('Detail: 1 changes');
  });
});
