import { describe, expect, it } from 'vitest';
import { alertLabels, renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';
import { makeNotification, makeTrackedFinding, T0 } from '../../support/notifications.ts';

const HOUR = 3_600_000;

describe('renderAlertmanagerAlerts', () => {
  it('renders one alert per firing finding, with meshdrift labels and endsAt = at + ttl', () => {
    const alerts = renderAlertmanagerAlerts(makeNotification(), { firingTtlMs: HOUR });
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
          summary: 'AuthorizationPolicy.security.istio.io payments/allow-checkout drifted (Modified) in Application argocd/payments on prod-eu',
          description: expect.stringContaining('critical security drift: AuthorizationPolicy.security.istio.io payments/allow-checkout is Modified.'),
        },
        startsAt: '2025-01-15T10:00:00.000Z',
        endsAt: '2025-01-15T11:01:00.000Z',
      },
    ]);
  });

  it('ends resolved findings at resolvedAt, or at the notification time without one', () => {
    const n = makeNotification({
      status: 'resolved',
      reason: 'resolved',
      firing: [],
      resolved: [makeTrackedFinding('a', { status: 'resolved', resolvedAt: T0 + 30_000 }), makeTrackedFinding('b', { status: 'resolved' })],
    });
    const alerts = renderAlertmanagerAlerts(n, { firingTtlMs: HOUR });
    expect(alerts.map((a) => [a.labels.name, a.endsAt])).toEqual([
      ['a', '2025-01-15T10:00:30.000Z'],
      ['b', '2025-01-15T10:01:00.000Z'],
    ]);
  });

  it('sends firing and resolved findings of one notification together', () => {
    const n = makeNotification({
      reason: 'some-resolved',
      firing: [makeTrackedFinding('a')],
      resolved: [makeTrackedFinding('b', { status: 'resolved', resolvedAt: T0 + 1 })],
    });
    const alerts = renderAlertmanagerAlerts(n, { firingTtlMs: 5 * 60_000 });
    expect(alerts.map((a) => [a.labels.name, a.endsAt])).toEqual([
      ['a', '2025-01-15T10:06:00.000Z'],
      ['b', '2025-01-15T10:00:00.001Z'],
    ]);
  });

  it('omits empty label values (core group, cluster-scoped, no project)', () => {
    const f = makeTrackedFinding('default', {
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
    const labels = alertLabels(makeTrackedFinding('x', { labels: { team: 'payments', severity: 'low' } }));
    expect(labels.team).toBe('payments');
    expect(labels.severity).toBe('critical');
    expect(labels.alertname).toBe('MeshDrift');
  });

  it('never ends an alert before it starts', () => {
    const f = makeTrackedFinding('x', { firstSeen: T0 + 10_000, status: 'resolved', resolvedAt: T0 });
    const [alert] = renderAlertmanagerAlerts(makeNotification({ firing: [], resolved: [f] }), { firingTtlMs: HOUR });
    expect(alert?.endsAt).toBe(alert?.startsAt);
  });

  it('sets generatorURL when given, and includes revision and detail in the description', () => {
    const f = makeTrackedFinding('x', { revision: 'a1b2c3', detail: '1 changes' });
    const [alert] = renderAlertmanagerAlerts(makeNotification({ firing: [f] }), { firingTtlMs: HOUR, generatorUrl: 'https://meshdrift.example.com/' });
    expect(alert?.generatorURL).toBe('https://meshdrift.example.com/');
    expect(alert?.annotations.description).toContain('Revision: a1b2c3.');
    expect(alert?.annotations.description).toContain('Detail: 1 changes');
  });
});
