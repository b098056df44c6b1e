import { describe, expect, it } from 'vitest';
import type { Notifier } from '../../../src/deliver/notifier.ts';
import { withCapabilities } from '../../../src/deliver/notifier.ts';
import { renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';
import { renderConsoleLine } from '../../../src/deliver/console/notifier.ts';
import { pagerDutyDedupKey, renderPagerDutyEvent } from '../../../src/deliver/pagerduty/render.ts';
import { OWNER_NOTES } from '../../../src/deliver/slack/note-job.ts';
import { renderWebhookPayload } from '../../../src/deliver/webhook/notifier.ts';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import { notificationSchema } from '../../../src/model/alert-group.ts';
import { REMEDIATION, type Remediation } from '../../../src/remediate/capability.ts';
import { escalationEventSchema, escalationGroupKey, escalationNotification, type EscalationEvent } from '../../../src/remediate/escalation.ts';
import { escalationReceivers } from '../../../src/remediate/jobs.ts';

const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);
const APP = { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' };
const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };

const event = (over: Partial<EscalationEvent> = {}): EscalationEvent =>
  escalationEventSchema.parse({
    id: 'flap:auto-sync:g1:2:prod/argocd/Application/argocd/payments-mesh',
    status: 'firing',
    kind: 'flap-breaker',
    receiver: 'auto-sync',
    cluster: 'prod',
    tool: 'argocd',
    owner: APP,
    project: 'mesh-prod',
    severity: 'high',
    reason: '1 resource(s) drifted again after 3 remediations within 60m; meshdrift will not revert them again for 60m',
    resources: [VS],
    fingerprints: ['fp-vs'],
    groupKey: 'g1',
    seq: 2,
    firstAt: T0,
    at: T0,
    ...over,
  });

const finding: TrackedFinding = {
  fingerprint: 'fp-vs',
  groupKey: 'g1',
  cluster: 'prod',
  tool: 'argocd',
  owner: APP,
  project: 'mesh-prod',
  resource: VS,
  state: 'Modified',
  category: 'traffic',
  mesh: 'istio',
  severity: 'medium',
  receivers: ['auto-sync'],
  reasons: [],
  observedAt: T0,
  firstSeen: T0,
  lastSeen: T0,
  status: 'firing',
};
const source: Notification = {
  groupKey: 'g1',
  seq: 2,
  reason: 'repeat',
  status: 'firing',
  labels: { cluster: 'prod', tool: 'argocd', owner: APP, project: 'mesh-prod' },
  severity: 'medium',
  firing: [finding, { ...finding, fingerprint: 'fp-other', resource: { ...VS, name: 'other' } }],
  resolved: [],
  at: T0,
  firstSeen: T0,
};

describe('escalationNotification', () => {
  it('is a notification of its own: its own group key, the policy severity, only the findings it gave up on', () => {
    const n = escalationNotification(event(), source);
    expect(notificationSchema.parse(n)).toEqual(n);
    expect(n).toMatchObject({
      groupKey: escalationGroupKey('auto-sync', { cluster: 'prod', tool: 'argocd', owner: APP }),
      seq: 1,
      status: 'firing',
      severity: 'high',
    });
    expect(n.groupKey).toBe('remediation-escalation:auto-sync:prod/argocd/Application/argocd/payments-mesh');
    expect(n.firing.map((f) => f.fingerprint)).toEqual(['fp-vs']);
    expect(n.escalation?.headline).toBe(
      'Auto-remediation stopped for Application argocd/payments-mesh (auto-sync): 1 resource(s) drifted again after 3 remediations within 60m; meshdrift will not revert them again for 60m',
    );
  });
  it('resolved: seq 2, the findings resolved, the same group key; without the stored source it still renders', () => {
    const r = escalationNotification(event({ status: 'resolved', at: T0 + 5, reason: 'Sync by meshdrift verified' }), source);
    expect(r).toMatchObject({ seq: 2, status: 'resolved', reason: 'resolved', firing: [] });
    expect(r.resolved.map((f) => [f.status, f.resolvedAt])).toEqual([['resolved', T0 + 5]]);
    expect(escalationNotification(event(), null)).toMatchObject({ firing: [], labels: { project: 'mesh-prod' } });
  });
});

describe('the receivers render it as one event about the owner', () => {
  const n = escalationNotification(event(), source);
  it('PagerDuty: its own dedup key, the headline as title, class remediation-escalation', () => {
    const e = renderPagerDutyEvent(n, 'R0UT1NGKEY0123456789ABCDEFGHIJKL');
    expect(e.dedup_key).toBe(pagerDutyDedupKey(n.groupKey));
    expect(e.dedup_key).not.toBe(pagerDutyDedupKey('g1'));
    expect(e.payload.summary).toMatch(/^\[HIGH\] Auto-remediation stopped for Application argocd\/payments-mesh/);
    expect(e.payload.severity).toBe('error');
    expect(e.payload.class).toBe('remediation-escalation');
    expect(renderPagerDutyEvent(escalationNotification(event({ status: 'resolved' }), source), 'R0UT1NGKEY0123456789ABCDEFGHIJKL').event_action).toBe(
      'resolve',
    );
  });
  it('Alertmanager and the webhook: one alert named MeshDriftRemediationEscalated, never the drift alerts of the same resources', () => {
    const alerts = renderAlertmanagerAlerts(n, { firingTtlMs: 60_000 });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.labels).toMatchObject({
      alertname: 'MeshDriftRemediationEscalated',
      escalation: 'flap-breaker',
      remediate_receiver: 'auto-sync',
      owner: 'payments-mesh',
    });
    const payload = renderWebhookPayload(n);
    expect(payload.alerts).toHaveLength(1);
    expect(payload.alerts[0]?.labels.alertname).toBe('MeshDriftRemediationEscalated');
    expect(payload.escalation?.kind).toBe('flap-breaker');
  });
  it('the console: a JSON line with the escalation; hostile text is sanitised', () => {
    const line = JSON.parse(renderConsoleLine(escalationNotification(event({ receiver: 'auto\u202Esync' }), source))) as { escalation: { receiver: string } };
    expect(line.escalation.receiver).not.toContain('\u202E');
  });
});

describe('escalationReceivers', () => {
  const plain = (type: string): Notifier => ({ type, send: async () => ({ ok: true }) });
  const slack = withCapabilities(plain('slack'), OWNER_NOTES.grant({ tellOwner: async () => ({ ok: true }) }));
  const remediation = {} as Remediation;
  const remediate = withCapabilities(plain('remediate'), REMEDIATION.grant(remediation));
  const notifiers = new Map<string, Notifier>([
    ['pager', plain('pagerduty')],
    ['log', plain('console')],
    ['chat', slack],
    ['auto-sync', remediate],
  ]);
  it('keeps receivers that exist, once; never Slack (told in the thread) nor a remediate receiver', () => {
    expect(escalationReceivers(['pager', 'chat', 'auto-sync', 'gone', 'log', 'pager'], notifiers)).toEqual(['pager', 'log']);
  });
});
