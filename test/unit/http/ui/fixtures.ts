import type { TrackedFinding } from '../../../../src/model/alert-group.ts';
import type { GroupState } from '../../../../src/track/group-state.ts';

/** The web page's unit tests: one clock, and findings and groups of an Argo CD app as the store holds them. */
export const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);

const ownerOf = (app: string) => ({ kind: 'Application', namespace: 'argocd', name: app });

/** A firing VirtualService finding of Argo CD app `app` (group `g-<app>`, namespace `app`), seen a minute ago. */
export function uiFinding(app: string, name: string, extra: Partial<TrackedFinding> = {}): TrackedFinding {
  return {
    fingerprint: `${app}-${name}`,
    groupKey: `g-${app}`,
    cluster: extra.cluster ?? 'prod',
    tool: 'argocd',
    owner: ownerOf(app),
    project: 'default',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: app, name },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['chat'],
    reasons: [],
    observedAt: NOW - 60_000,
    firstSeen: NOW - 60_000,
    lastSeen: NOW,
    status: 'firing',
    ...extra,
  };
}

/** The group of app `app` holding `findings`; told once (30 s ago) when `notified`. */
export function uiGroup(app: string, findings: TrackedFinding[], notified = false): GroupState {
  const cluster = findings[0]?.cluster ?? 'prod';
  return {
    v: 1,
    groupKey: `g-${app}`,
    createdAt: NOW - 60_000,
    labels: { cluster, tool: 'argocd', owner: ownerOf(app), project: 'default', route: 'route', receiver: 'chat' },
    timing: { groupWaitMs: 0, groupIntervalMs: 0, repeatIntervalMs: 0, pendingForMs: 0 },
    findings: Object.fromEntries(findings.map((f) => [f.fingerprint, f])),
    firstSeen: NOW - 60_000,
    snapshots: {},
    flushSeq: 1,
    pendingFlush: null,
    handledFlushSeq: 1,
    lastNotification: notified
      ? {
          groupKey: `g-${app}`,
          seq: 1,
          reason: 'first',
          status: 'firing',
          labels: { cluster, tool: 'argocd', owner: ownerOf(app), project: 'default' },
          severity: 'high',
          firing: findings,
          resolved: [],
          at: NOW - 30_000,
          firstSeen: NOW - 60_000,
        }
      : null,
  };
}
