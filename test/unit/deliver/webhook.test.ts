import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import { redactUrl } from '../../../src/net/http.ts';
import { renderWebhookPayload, signWebhookBody } from '../../../src/deliver/webhook/notifier.ts';
import { makeNotification, makeTrackedFinding, T0, type FindingOverrides } from '../../support/notifications.ts';

// VirtualServices (high traffic drift) unless a test says otherwise.
function finding(name: string, over: FindingOverrides<TrackedFinding> = {}): TrackedFinding {
  return makeTrackedFinding(name, { resource: { group: 'networking.istio.io', kind: 'VirtualService' }, category: 'traffic', severity: 'high', ...over });
}

function notification(over: Partial<Notification> = {}): Notification {
  return makeNotification({
    seq: 3,
    reason: 'some-resolved',
    firing: [
      finding('checkout'),
      finding('deny-all', {
        severity: 'critical',
        category: 'security',
        resource: { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'deny-all' },
      }),
    ],
    resolved: [finding('old', { status: 'resolved', resolvedAt: T0 + 30_000 })],
    ...over,
  });
}

describe('renderWebhookPayload', () => {
  it('renders an Alertmanager-style body with one alert per finding', () => {
    const payload = renderWebhookPayload(notification());

    expect(payload).toMatchObject({
      version: 'meshdrift/1',
      groupKey: 'g1',
      seq: 3,
      status: 'firing',
      receiver: 'webhook',
      notification_reason: 'some-resolved',
      groupLabels: { cluster: 'prod-eu', tool: 'argocd', owner_kind: 'Application', owner_namespace: 'argocd', owner: 'payments', project: 'payments' },
    });
    expect(payload.alerts.map((a) => [a.status, a.labels.name, a.startsAt, a.endsAt, a.fingerprint])).toEqual([
      ['firing', 'checkout', '2025-01-15T10:00:00.000Z', '0001-01-01T00:00:00Z', 'fp-checkout'],
      ['firing', 'deny-all', '2025-01-15T10:00:00.000Z', '0001-01-01T00:00:00Z', 'fp-deny-all'],
      ['resolved', 'old', '2025-01-15T10:00:00.000Z', '2025-01-15T10:00:30.000Z', 'fp-old'],
    ]);
    expect(payload.alerts[0]?.labels.alertname).toBe('MeshDrift');
    expect(payload.alerts[0]?.annotations.summary).toBe(
      'VirtualService.networking.istio.io payments/checkout drifted (Modified) in Application argocd/payments on prod-eu',
    );
  });

  it('has the labels all alerts share as commonLabels', () => {
    const { commonLabels, commonAnnotations } = renderWebhookPayload(notification());
    expect(commonLabels).toEqual({
      alertname: 'MeshDrift',
      cluster: 'prod-eu',
      tool: 'argocd',
      project: 'payments',
      owner_kind: 'Application',
      owner_namespace: 'argocd',
      owner: 'payments',
      namespace: 'payments',
      state: 'Modified',
      mesh: 'istio',
    });
    expect(commonAnnotations).toEqual({});
  });

  it('has every label of a single alert in commonLabels', () => {
    const payload = renderWebhookPayload(notification({ firing: [finding('a')], resolved: [] }));
    expect(payload.commonLabels).toEqual(payload.alerts[0]?.labels);
    expect(payload.commonAnnotations).toEqual(payload.alerts[0]?.annotations);
  });

  it('renders a resolve with resolved alerts only', () => {
    const payload = renderWebhookPayload(
      notification({ status: 'resolved', reason: 'resolved', firing: [], resolved: [finding('a', { status: 'resolved' })] }),
      'mesh-hooks',
    );
    expect(payload.status).toBe('resolved');
    expect(payload.receiver).toBe('mesh-hooks');
    // No resolvedAt: it ended when the notification was decided.
    expect(payload.alerts).toMatchObject([{ status: 'resolved', endsAt: '2025-01-15T10:01:00.000Z' }]);
  });

  it('leaves empty values out of groupLabels', () => {
    const payload = renderWebhookPayload(
      notification({ labels: { cluster: 'c', tool: 'flux', owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' }, project: '' } }),
    );
    expect(payload.groupLabels).not.toHaveProperty('project');
  });
});

describe('signWebhookBody', () => {
  it('is sha256=<hex HMAC-SHA256> of the exact bytes', () => {
    const body = '{"a":1}';
    expect(signWebhookBody(body, 'k')).toBe(`sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`);
    expect(signWebhookBody(Buffer.from(body), 'k')).toBe(signWebhookBody(body, 'k'));
    expect(signWebhookBody('{"a": 1}', 'k')).not.toBe(signWebhookBody(body, 'k'));
  });
});

describe('redactUrl', () => {
  it.each([
    ['https://hooks.example.com/services/T000/B000/XXXXSECRET', 'https://hooks.example.com'],
    ['https://user:pass@hooks.example.com:8443/x?token=SECRET#frag', 'https://hooks.example.com:8443'],
    ['http://127.0.0.1:9000/', 'http://127.0.0.1:9000'],
    ['not a url SECRET', '[invalid url]'],
  ])('shows %s as %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});
