import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../../src/config/env.ts';
import { loadPolicyText, type LoadedPolicy } from '../../../src/config/load.ts';
import { renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';
import { renderPagerDutyEvent } from '../../../src/deliver/pagerduty/render.ts';
import { renderMainMessage, renderStormDetail, renderThreadReply } from '../../../src/deliver/slack/storm-render.ts';
import { causesOf, memberOf, type StormCause, type StormRecord } from '../../../src/deliver/storm.ts';
import { STORM_DETAIL_PARTS, STORM_DETAIL_PER_PART, stormDetailParts } from '../../../src/deliver/storm-detail.ts';
import { stormSettingsOf } from '../../../src/deliver/storm-settings.ts';
import { plural, stormHeadline, stormHref, stormNotification } from '../../../src/deliver/storm-summary.ts';
import { renderWebhookPayload } from '../../../src/deliver/webhook/notifier.ts';
import { makeNotification, makeTrackedFinding } from '../../support/notifications.ts';

function record(members: StormRecord['members'], cause: StormCause = { kind: 'revision', revision: 'abc1234567890def' }): StormRecord {
  return {
    receiver: 'slack',
    id: '1-1',
    cause,
    startedAt: 1000,
    lastJoinAt: 2000,
    ended: false,
    version: 3,
    sentVersion: 0,
    detailParts: 0,
    joined: members.size,
    memberCount: members.size,
    members,
    sample: [makeTrackedFinding('vs-a', { severity: 'critical' })],
  };
}

const member = (i: number, over: Partial<ReturnType<typeof memberOf>> = {}) => ({
  ...memberOf(makeNotification()),
  owner: `prod-eu/Application/argocd/app-${i}`,
  ...over,
});

describe('drift storm summaries', () => {
  it('counts resources, apps and critical findings, and names the one cluster and revision', () => {
    const n = makeNotification({
      firing: [
        makeTrackedFinding('a', { severity: 'critical', revision: 'abc1234567890def' }),
        makeTrackedFinding('b', { severity: 'high', revision: 'abc1234567890def' }),
      ],
    });
    const m = memberOf(n);
    expect(m).toMatchObject({ firing: 2, critical: 1, cluster: 'prod-eu', revision: 'abc1234567890def' });
    const r = record(
      new Map([
        ['g1', m],
        ['g2', { ...m, owner: 'prod-eu/Application/argocd/other', firing: 1410, critical: 11 }],
      ]),
    );
    expect(stormHeadline(r, false)).toBe('1,412 resources in 2 apps drifted in prod-eu after revision abc123456789, 12 critical');
  });

  it('says which cause: a revision over several clusters, one cluster, or too many at once', () => {
    const ms = new Map([
      ['g1', member(1, { cluster: 'prod-us' })],
      ['g2', member(2)],
    ]);
    expect(stormHeadline(record(ms), false)).toBe('2 resources in 2 apps drifted in 2 clusters after revision abc123456789, 2 critical');
    expect(stormHeadline(record(new Map([['g2', member(2)]]), { kind: 'cluster', cluster: 'prod-eu' }), false)).toBe(
      '1 resource in 1 app drifted in cluster prod-eu, 1 critical',
    );
    expect(stormHeadline(record(ms, { kind: 'burst' }), false)).toBe(
      '2 resources in 2 apps drifted at once in 2 clusters (no one revision or cluster), 2 critical',
    );
  });

  it('writes singular and plural right everywhere in storm text', () => {
    expect([plural(0, 'app'), plural(1, 'app'), plural(2, 'app'), plural(1412, 'resource')]).toEqual(['0 apps', '1 app', '2 apps', '1,412 resources']);
    const one = record(new Map([['g1', member(1)]]));
    expect(stormHeadline(one, false)).toBe('1 resource in 1 app drifted in prod-eu after revision abc123456789, 1 critical');
    expect(stormHeadline({ ...one, members: new Map() }, true)).toBe('Drift storm over: its 1 group resolved (after revision abc123456789)');
    expect(stormHeadline({ ...one, joined: 387, members: new Map() }, true)).toBe('Drift storm over: all 387 groups resolved (after revision abc123456789)');
  });

  it('looks for a storm of the revision, then the cluster, then of anything at once', () => {
    const n = makeNotification({ firing: [makeTrackedFinding('a', { revision: 'r1' })] });
    expect(causesOf(memberOf(n))).toEqual([{ kind: 'revision', revision: 'r1' }, { kind: 'cluster', cluster: 'prod-eu' }, { kind: 'burst' }]);
    expect(causesOf(memberOf(makeNotification()))).toEqual([{ kind: 'cluster', cluster: 'prod-eu' }, { kind: 'burst' }]);
  });

  it('is one notification of its own group: firing with the sample and counts, then resolved', () => {
    const r = record(new Map([['g1', memberOf(makeNotification())]]));
    const firing = stormNotification(r, 1, 5000, false, 'https://meshdrift.example.com/');
    expect(firing).toMatchObject({ groupKey: 'storm/slack/1-1', seq: 1, reason: 'first', status: 'firing', severity: 'critical' });
    expect(firing.storm).toMatchObject({ id: '1-1', cause: 'revision', groups: 1, apps: 1, resources: 1, critical: 1, clusters: 1 });
    expect(firing.storm?.href).toBe('https://meshdrift.example.com/api/v1/storms/1-1');
    expect(firing.firing).toHaveLength(1);
    // Slack: the headline, the cause, the link to every member, and no buttons (a Silence or
    // Acknowledge would act on no group).
    const slack = JSON.stringify(renderMainMessage(firing).blocks);
    expect(slack).toContain('1 resource in 1 app drifted in prod-eu');
    expect(slack).toContain('Cause: one revision');
    expect(slack).toContain('<https://meshdrift.example.com/api/v1/storms/1-1|Every member>');
    expect(slack).not.toContain('meshdrift.silence');
    expect(JSON.stringify(renderThreadReply({ ...firing, seq: 2 }).blocks)).toContain('Now: 1 resource in 1 app');
    const resolved = stormNotification({ ...r, members: new Map(), ended: true }, 4, 9000, true);
    expect(resolved).toMatchObject({ groupKey: 'storm/slack/1-1', seq: 4, reason: 'resolved', status: 'resolved', firing: [] });
    expect(resolved.storm?.href).toBe('/api/v1/storms/1-1');
    expect(resolved.resolved[0]?.status).toBe('resolved');
    expect(resolved.labels.owner.name).toBe('Drift storm over: its 1 group resolved (after revision abc123456789)');
    expect(JSON.stringify(renderMainMessage(resolved).blocks)).toContain('RESOLVED');
  });

  it('is one event per receiver with the storm id and counts: PagerDuty, Alertmanager, webhook', () => {
    const ms = new Map(Array.from({ length: 30 }, (_, i) => [`g${i}`, member(i)] as const));
    const n = stormNotification(record(ms), 2, 5000, false);
    n.firing = Array.from({ length: 20 }, (_, i) => makeTrackedFinding(`f${i}`));
    const pd = renderPagerDutyEvent(n, 'rk');
    expect(pd.payload.summary).toBe('[CRITICAL] Drift storm: 30 resources in 30 apps drifted in prod-eu after revision abc123456789, 30 critical');
    expect(pd.payload.custom_details.storm).toMatchObject({ id: '1-1', cause: 'revision', groups: 30, apps: 30, resources: 30, critical: 30 });
    expect(pd.payload.class).toBe('drift-storm');
    const am = renderAlertmanagerAlerts(n, { firingTtlMs: 60_000 });
    expect(am).toHaveLength(1);
    expect(am[0]?.labels).toMatchObject({ alertname: 'MeshDriftStorm', storm_id: '1-1', storm_cause: 'revision', revision: 'abc1234567890def' });
    expect(am[0]?.annotations).toMatchObject({ storm_id: '1-1', groups: '30', apps: '30', resources: '30', critical: '30', members_url: '/api/v1/storms/1-1' });
    const hook = renderWebhookPayload(n, 'hook');
    expect(hook.alerts).toHaveLength(1);
    expect(hook.storm).toMatchObject({ id: '1-1', resources: 30 });
    expect(hook.alerts[0]?.annotations.summary).toBe(n.storm?.headline);
  });

  it('details members in bounded replies, most critical first, with "and N more", the API link and Argo CD links', () => {
    const count = STORM_DETAIL_PARTS * STORM_DETAIL_PER_PART + 5;
    const ms = new Map(Array.from({ length: count }, (_, i) => [`g${i}`, member(i, { critical: i === 42 ? 7 : 0, firing: 1 + (i % 3) })] as const));
    const parts = stormDetailParts(record(ms), '/api/v1/storms/1-1', 'https://argocd.example.com/');
    expect(parts).toHaveLength(STORM_DETAIL_PARTS);
    expect(parts.every((p) => p.lines.length === STORM_DETAIL_PER_PART && p.total === count && p.more === 5)).toBe(true);
    expect(parts[0]?.lines[0]).toMatchObject({ name: 'app-42', critical: 7, link: 'https://argocd.example.com/applications/argocd/app-42' });
    const last = JSON.stringify(renderStormDetail(parts[2] as (typeof parts)[number]).blocks);
    expect(last).toContain('…and 5 more.');
    expect(last).toContain('GET /api/v1/storms/1-1');
    const first = JSON.stringify(renderStormDetail(parts[0] as (typeof parts)[number]).blocks);
    expect(first).toContain('<https://argocd.example.com/applications/argocd/app-42|Argo CD>');
    expect(first).toContain('7 critical');
    expect(first).toMatch(/: 1 resource[^s]/);
    expect(stormDetailParts(record(new Map()), '/x')).toEqual([]);
    expect(stormHref('a b', undefined)).toBe('/api/v1/storms/a%20b');
  });
});

function loadPolicyFromString(text: string): LoadedPolicy {
  const r = loadPolicyText(text, 'policy.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

describe('storm settings', () => {
  it('defaults to 50 groups in 1m, and refuses a threshold of 1 or a window out of range', () => {
    expect(loadEnv({})).toMatchObject({ MESHDRIFT_STORM_THRESHOLD: 50, MESHDRIFT_STORM_WINDOW: 60_000 });
    expect(loadEnv({ MESHDRIFT_STORM_THRESHOLD: '0' }).MESHDRIFT_STORM_THRESHOLD).toBe(0);
    expect(() => loadEnv({ MESHDRIFT_STORM_THRESHOLD: '1' })).toThrow(ConfigError);
    expect(() => loadEnv({ MESHDRIFT_STORM_WINDOW: '500ms' })).toThrow(ConfigError);
    expect(() => loadEnv({ MESHDRIFT_STORM_WINDOW: '2h' })).toThrow(ConfigError);
  });

  it('per receiver: `storm: off`, or a threshold and window, each defaulting to the environment', () => {
    const policy = loadPolicyFromString(
      [
        'receivers:',
        '  - { name: pager, console: {}, storm: off }',
        '  - { name: chat, console: {}, storm: { threshold: 200 } }',
        '  - { name: hook, console: {}, storm: { window: 5m } }',
        '  - { name: plain, console: {} }',
        'route: { receiver: plain }',
      ].join('\n'),
    );
    const defaults = { threshold: 50, windowMs: 60_000 };
    expect(stormSettingsOf(policy.receivers, defaults, 'pager')).toEqual({ threshold: 0, windowMs: 60_000 });
    expect(stormSettingsOf(policy.receivers, defaults, 'chat')).toEqual({ threshold: 200, windowMs: 60_000 });
    expect(stormSettingsOf(policy.receivers, defaults, 'hook')).toEqual({ threshold: 50, windowMs: 300_000 });
    expect(stormSettingsOf(policy.receivers, defaults, 'plain')).toEqual(defaults);
    expect(stormSettingsOf(policy.receivers, defaults, 'unknown')).toEqual(defaults);
    for (const bad of ['storm: on', 'storm: { threshold: 1 }', 'storm: { window: 2h }', 'storm: { threshold: 5, extra: 1 }']) {
      expect(() => loadPolicyFromString(`receivers:\n  - { name: x, console: {}, ${bad} }\nroute: { receiver: x }`)).toThrow();
    }
  });
});
