import { describe, expect, it } from 'vitest';
import { buildHistory } from '../../../../src/http/ui/history.ts';
import { buildIncident } from '../../../../src/http/ui/incident.ts';
import { parseMatcher } from '../../../../src/route/matcher.ts';
import type { HistoryEntry } from '../../../../src/track/history.ts';

const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const MIN = 60_000;

function entry(app: string, firstSeen: number, at: number, status: 'firing' | 'resolved', seq: number, authors?: string[]): HistoryEntry {
  return {
    groupKey: `g-${app}`,
    seq,
    reason: status === 'resolved' ? 'resolved' : 'first',
    status,
    labels: { cluster: 'prod', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: app }, project: 'default', receiver: 'chat' },
    severity: 'high',
    at,
    firstSeen,
    firing: status === 'firing' ? 1 : 0,
    resolved: status === 'resolved' ? 1 : 0,
    findings: [
      {
        fingerprint: `${app}-fp`,
        status,
        severity: 'high',
        state: 'Modified',
        resource: { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'pay', name: `${app}-ap` },
      },
    ],
    omitted: 0,
    ...(authors === undefined ? {} : { authors }),
  };
}

describe('history', () => {
  const entries = [
    entry('pay', NOW - 60 * MIN, NOW - 59 * MIN, 'firing', 1, ['alice@corp']),
    entry('pay', NOW - 60 * MIN, NOW - 20 * MIN, 'resolved', 2, ['alice@corp']),
    entry('shop', NOW - 30 * MIN, NOW - 27 * MIN, 'firing', 1, ['tool:kubectl-edit']),
    entry('shop', NOW - 30 * MIN, NOW - 10 * MIN, 'resolved', 2),
    entry('old', NOW - 10 * 86_400_000, NOW - 10 * 86_400_000 + MIN, 'firing', 1),
    entry('open', NOW - 5 * MIN, NOW - 4 * MIN, 'firing', 1, ['alice@corp']),
  ];

  it('lists resolved incidents of the window, newest first, with MTTD and time to resolve as medians', () => {
    const v = buildHistory(entries, 7, '', NOW);
    expect(v.incidents.map((i) => i.groupKey)).toEqual(['g-shop', 'g-pay']);
    expect(v.resolved).toBe(2);
    // Notified after 1, 3 and 1 minutes (pay, shop, open): median 1 minute; resolved after 40 and 20: median 30.
    expect(v.mttdMs).toBe(MIN);
    expect(v.ttrMs).toBe(30 * MIN);
    expect(v.byApp.map((x) => x.key)).toEqual(['prod › Application argocd/open', 'prod › Application argocd/pay', 'prod › Application argocd/shop']);
    expect(v.byAuthor).toEqual([
      { key: 'alice@corp', count: 2 },
      { key: 'tool:kubectl-edit', count: 1 },
    ]);
  });

  it('searches cluster, app, resource and author', () => {
    expect(buildHistory(entries, 7, 'SHOP-AP', NOW).incidents.map((i) => i.groupKey)).toEqual(['g-shop']);
    expect(buildHistory(entries, 7, 'alice', NOW).incidents.map((i) => i.groupKey)).toEqual(['g-pay']);
    expect(buildHistory(entries, 30, 'old', NOW).incidents).toEqual([]);
  });

  it('an incident page outlives its group: findings gone, the timeline from the history, the audit trail and the silences that matched', () => {
    const silence = {
      id: 's1',
      matchers: [parseMatcher('name="pay-ap"')],
      startsAt: new Date(NOW - 50 * MIN).toISOString(),
      endsAt: new Date(NOW - 30 * MIN).toISOString(),
      createdBy: 'alice',
      comment: 'looking',
      createdAt: new Date(NOW - 50 * MIN).toISOString(),
    };
    const other = { ...silence, id: 's2', matchers: [parseMatcher('name="nothing"')] };
    const audit = [
      {
        id: '1-0',
        kind: 'remediation' as const,
        at: NOW - 40 * MIN,
        actor: 'meshdrift',
        action: 'argocd-sync' as const,
        cluster: 'prod',
        resources: [],
        fingerprints: ['pay-fp'],
        dryRun: false,
        outcome: 'performed' as const,
        reason: 'policy allows',
      },
    ];
    const i = buildIncident('g-pay', { group: null, history: entries, audit, silences: [silence, other], now: NOW });
    expect(i?.findings).toEqual([]);
    expect(i?.status).toBe('resolved');
    expect(i?.timeline.map((e) => e.what)).toEqual([
      'first seen',
      'notification #1 sent (first)',
      'silence s1 created',
      'remediation argocd-sync: performed',
      'silence s1 ended',
      'resolved: notification #2 sent',
    ]);
    expect(i?.matchers).toEqual(['cluster="prod"', 'owner_kind="Application"', 'owner_namespace="argocd"', 'owner="pay"']);
    expect(buildIncident('g-none', { group: null, history: entries, audit: [], silences: [], now: NOW })).toBeNull();
  });
});
