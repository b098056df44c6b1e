import { describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import type { Severity } from '../../../src/model/severity.ts';
import { PAGERDUTY_LIMITS, pagerDutyDedupKey, pagerDutySeverity, renderPagerDutyEvent } from '../../../src/deliver/pagerduty/render.ts';
import { parseRetryAfter } from '../../../src/deliver/pagerduty/notifier.ts';
import { makeNotification, makeTrackedFinding, paymentsGroupLabels, T0 } from '../../support/notifications.ts';

const ROUTING_KEY = 'R0UT1NGKEY0SECRET0123456789abcde';

// A finding on prod: high traffic drift unless said otherwise.
function finding(over: {
  kind: string;
  name: string;
  namespace?: string;
  group?: string;
  severity?: Severity;
  category?: TrackedFinding['category'];
  state?: TrackedFinding['state'];
  detail?: string;
  status?: TrackedFinding['status'];
}): TrackedFinding {
  const { kind, name, namespace, group, ...rest } = over;
  return makeTrackedFinding(name, {
    fingerprint: `fp-${kind}-${name}`,
    cluster: 'prod',
    resource: { kind, ...(group === undefined ? {} : { group }), ...(namespace === undefined ? {} : { namespace }) },
    category: 'traffic',
    severity: 'high',
    ...rest,
  });
}

function notification(over: Partial<Notification> = {}): Notification {
  return makeNotification({ groupKey: '3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6', labels: paymentsGroupLabels('prod'), firing: [], ...over });
}

const authz = finding({ kind: 'AuthorizationPolicy', name: 'allow-checkout', severity: 'critical', category: 'security' });
const vs = finding({ kind: 'VirtualService', name: 'checkout', group: 'networking.istio.io', severity: 'high', category: 'traffic' });

describe('renderPagerDutyEvent', () => {
  it('renders a firing group as a trigger with a summary, severity and the PagerDuty fields', () => {
    const event = renderPagerDutyEvent(notification({ firing: [vs, authz] }), ROUTING_KEY);

    expect(event).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: pagerDutyDedupKey('3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6'),
      client: 'meshdrift',
      payload: {
        summary:
          '[CRITICAL] 2 drifted mesh resources in Application argocd/payments on prod: AuthorizationPolicy.security.istio.io payments/allow-checkout, VirtualService.networking.istio.io payments/checkout',
        source: 'prod',
        severity: 'critical',
        timestamp: '2025-01-15T10:01:00.000Z',
        component: 'Application/argocd/payments',
        group: 'argocd',
        class: 'security',
      },
    });
    expect(event.links).toBeUndefined();
    expect(event.payload.custom_details).toMatchObject({
      status: 'firing',
      reason: 'first',
      seq: 1,
      firing_count: 2,
      resolved_count: 0,
      omitted: 0,
      firing: [
        {
          kind: 'AuthorizationPolicy',
          group: 'security.istio.io',
          namespace: 'payments',
          name: 'allow-checkout',
          state: 'Modified',
          severity: 'critical',
          category: 'security',
          mesh: 'istio',
        },
        { kind: 'VirtualService', namespace: 'payments', name: 'checkout', severity: 'high', category: 'traffic' },
      ],
      resolved: [],
    });
  });

  it('renders a resolved group as a resolve with the same dedup key', () => {
    const trigger = renderPagerDutyEvent(notification({ firing: [authz] }), ROUTING_KEY);
    const resolve = renderPagerDutyEvent(
      notification({ seq: 2, reason: 'resolved', status: 'resolved', firing: [], resolved: [{ ...authz, status: 'resolved', resolvedAt: T0 + 120_000 }] }),
      ROUTING_KEY,
    );

    expect(resolve.event_action).toBe('resolve');
    expect(resolve.dedup_key).toBe(trigger.dedup_key);
    expect(resolve.payload.summary).toBe('[RESOLVED] Application argocd/payments on prod: drifted mesh resources back in sync (was CRITICAL)');
    expect(resolve.payload.class).toBe('security');
    expect(resolve.payload.custom_details.resolved).toHaveLength(1);
  });

  it('derives a stable dedup key of at most 255 characters from the group key', () => {
    const key = pagerDutyDedupKey('g'.repeat(10_000));
    expect(key.length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.dedupKey);
    expect(pagerDutyDedupKey('a')).toBe(pagerDutyDedupKey('a'));
    expect(pagerDutyDedupKey('a')).not.toBe(pagerDutyDedupKey('b'));
    expect(pagerDutyDedupKey('a')).toMatch(/^meshdrift-[0-9a-f]{64}$/);
  });

  it.each([
    ['critical', 'critical'],
    ['high', 'error'],
    ['medium', 'warning'],
    ['low', 'info'],
    ['info', 'info'],
  ] as const)('maps severity %s to %s', (ours, theirs) => {
    expect(pagerDutySeverity(ours)).toBe(theirs);
    expect(renderPagerDutyEvent(notification({ severity: ours, firing: [authz] }), ROUTING_KEY).payload.severity).toBe(theirs);
  });

  it('links to the Argo CD application when argocdUrl is set', () => {
    const event = renderPagerDutyEvent(notification({ firing: [authz] }), ROUTING_KEY, { argocdUrl: 'https://argocd.example.com/' });
    expect(event.links).toEqual([{ href: 'https://argocd.example.com/applications/argocd/payments', text: 'Argo CD: Application argocd/payments' }]);
  });

  it('has no Argo CD link for a Flux owner', () => {
    const flux = notification({
      labels: { cluster: 'prod', tool: 'flux', owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' }, project: '' },
      firing: [authz],
    });
    const event = renderPagerDutyEvent(flux, ROUTING_KEY, { argocdUrl: 'https://argocd.example.com' });
    expect(event.links).toBeUndefined();
    expect(event.payload.group).toBe('flux');
    expect(event.payload.component).toBe('Kustomization/flux-system/mesh');
  });

  it('keeps the summary within 1024 characters, on one line, without splitting a surrogate pair', () => {
    const many = Array.from({ length: 200 }, (_, i) => finding({ kind: 'VirtualService', name: `😀-${'x'.repeat(40)}-${i}\n` }));
    const summary = renderPagerDutyEvent(notification({ firing: many }), ROUTING_KEY).payload.summary;

    expect(summary.length).toBeLessThanOrEqual(1024);
    expect([...summary].length).toBeLessThanOrEqual(1024);
    expect(summary).toMatch(/^\[CRITICAL\] 200 drifted mesh resources in /);
    expect(summary.endsWith('…')).toBe(true);
    expect(summary).not.toContain('\n');
    expect(summary).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('caps custom_details so the event stays well under 512 KB, counting what was cut', () => {
    const huge = Array.from({ length: 5_000 }, (_, i) =>
      finding({ kind: 'AuthorizationPolicy', name: `${'n'.repeat(240)}-${i}`, namespace: 'ns'.repeat(30), detail: 'd'.repeat(5_000) }),
    );
    const resolved = Array.from({ length: 10 }, (_, i) => ({ ...finding({ kind: 'Telemetry', name: `t${i}` }), status: 'resolved' as const }));
    const event = renderPagerDutyEvent(notification({ firing: huge, resolved }), ROUTING_KEY);
    const bytes = Buffer.byteLength(JSON.stringify(event));
    const details = event.payload.custom_details;

    expect(bytes).toBeLessThan(PAGERDUTY_LIMITS.event / 1.5);
    expect(details.firing.length).toBeGreaterThan(100);
    expect(details.firing_count).toBe(5_000);
    expect(details.resolved_count).toBe(10);
    expect(details.omitted).toBe(5_010 - details.firing.length - details.resolved.length);
    expect(details.omitted).toBeGreaterThan(0);
    // Free text is capped per finding too.
    expect(details.firing[0]?.detail?.length).toBeLessThanOrEqual(256);
  });

  it('lists everything when it fits', () => {
    const findings = Array.from({ length: 50 }, (_, i) => finding({ kind: 'VirtualService', name: `vs-${i}` }));
    const details = renderPagerDutyEvent(notification({ firing: findings }), ROUTING_KEY).payload.custom_details;
    expect(details.firing).toHaveLength(50);
    expect(details.omitted).toBe(0);
  });

  it('is pure: the same notification renders the same event', () => {
    const n = notification({ firing: [vs, authz] });
    expect(renderPagerDutyEvent(n, ROUTING_KEY)).toEqual(renderPagerDutyEvent(structuredClone(n), ROUTING_KEY));
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 1);
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['soon', undefined],
    ['7', 7_000],
    [' 0 ', 0],
    ['86400', 15 * 60_000],
    [new Date(now + 30_000).toUTCString(), 30_000],
    [new Date(now - 30_000).toUTCString(), 0],
  ])('parses %j as %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
