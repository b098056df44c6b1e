import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../../src/config/env.ts';
import { renderSlackMessage } from '../../../src/deliver/slack/render.ts';
import { memberOf, stormHeadline, stormNotification, type StormRecord } from '../../../src/deliver/storm.ts';
import { makeNotification, makeTrackedFinding, paymentsGroupLabels } from '../../support/notifications.ts';

function record(members: StormRecord['members']): StormRecord {
  return {
    receiver: 'slack',
    id: '1-1',
    startedAt: 1000,
    lastJoinAt: 2000,
    ended: false,
    version: 3,
    sentVersion: 0,
    joined: members.size,
    members,
    sample: [makeTrackedFinding('vs-a', { severity: 'critical' })],
  };
}

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

  it('says "N clusters" and no revision when the members differ', () => {
    const m = memberOf(makeNotification({ labels: paymentsGroupLabels('prod-us') }));
    const r = record(
      new Map([
        ['g1', m],
        ['g2', { ...m, cluster: 'prod-eu', owner: 'prod-eu/x', revision: 'r2' }],
      ]),
    );
    expect(stormHeadline(r, false)).toMatch(/in 2 apps drifted in 2 clusters, \d+ critical$/);
  });

  it('is one notification of its own group: firing with the sample, then resolved', () => {
    const r = record(new Map([['g1', memberOf(makeNotification())]]));
    const firing = stormNotification(r, 1, 5000, false);
    expect(firing).toMatchObject({ groupKey: 'storm/slack/1-1', seq: 1, reason: 'first', status: 'firing', severity: 'critical' });
    expect(firing.firing).toHaveLength(1);
    // Rendered by the receiver's own renderer: the headline in the header, and no buttons (a
    // Silence or Acknowledge would act on no group).
    const slack = JSON.stringify(renderSlackMessage(firing).blocks);
    expect(slack).toContain('DriftStorm 1 resources in 1 apps drifted in prod-eu');
    expect(slack).not.toContain('meshdrift.silence');
    const resolved = stormNotification({ ...r, members: new Map(), ended: true }, 4, 9000, true);
    expect(resolved).toMatchObject({ groupKey: 'storm/slack/1-1', seq: 4, reason: 'resolved', status: 'resolved', firing: [] });
    expect(resolved.resolved[0]?.status).toBe('resolved');
    expect(resolved.labels.owner.name).toBe('Drift storm over: all 1 groups resolved');
  });
});

describe('storm settings', () => {
  it('defaults to 50 groups in 1m, and refuses a threshold of 1 or a window out of range', () => {
    expect(loadEnv({})).toMatchObject({ MESHDRIFT_STORM_THRESHOLD: 50, MESHDRIFT_STORM_WINDOW: 60_000 });
    expect(loadEnv({ MESHDRIFT_STORM_THRESHOLD: '0' }).MESHDRIFT_STORM_THRESHOLD).toBe(0);
    expect(() => loadEnv({ MESHDRIFT_STORM_THRESHOLD: '1' })).toThrow(ConfigError);
    expect(() => loadEnv({ MESHDRIFT_STORM_WINDOW: '500ms' })).toThrow(ConfigError);
    expect(() => loadEnv({ MESHDRIFT_STORM_WINDOW: '2h' })).toThrow(ConfigError);
  });
});
