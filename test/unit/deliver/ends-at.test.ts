import { describe, expect, it } from 'vitest';
import { findingEndedAt, type Notification } from '../../../src/model/alert-group.ts';
import { renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';
import { renderWebhookPayload } from '../../../src/deliver/webhook/notifier.ts';
import { makeFinding, makeTrackedFinding, T0 } from '../../support/notifications.ts';
import { applyAndTell, paymentsSignal } from '../../support/tracker-run.ts';

// Each alert's endsAt in both Alertmanager-shaped receivers, for notifications the tracker itself
// builds (track/decide.ts applySignal + flush), so the finding's resolvedAt and lastSeen are the
// ones production sets (group_wait 10 s, group_interval 5 m, repeat 4 h, resolve_wait 30 s).

const HOUR = 3_600_000;
const iso = (t: number): string => new Date(t).toISOString();

const amEnds = (n: Notification): Array<[string | undefined, string]> =>
  renderAlertmanagerAlerts(n, { firingTtlMs: HOUR }).map((a) => [a.labels.name, a.endsAt]);
const hookEnds = (n: Notification): Array<[string | undefined, string, string]> =>
  renderWebhookPayload(n).alerts.map((a) => [a.labels.name, a.status, a.endsAt]);

describe('per-alert endsAt of the Alertmanager and webhook receivers', () => {
  it('a Corrected finding (reverted by the tool already) ends when meshdrift saw it, not at its first notification', () => {
    // Flux reverted the drift and said so at T0+5s; told at group_wait, resolved in a follow-up.
    const seenAt = T0 + 5_000;
    const { told } = applyAndTell(
      null,
      paymentsSignal([makeFinding('reverted', { state: 'Corrected', observedAt: seenAt })], 'partial', seenAt),
      seenAt,
      T0 + HOUR,
    );
    expect(told.map((n) => [n.reason, n.at])).toEqual([
      ['first', seenAt + 10_000],
      ['resolved', seenAt + 10_000 + 30_000],
    ]);
    const [first, resolve] = told as [Notification, Notification];
    // Told firing: Alertmanager's endsAt is a timeout (at + firing TTL), the webhook's Go's zero time.
    expect(amEnds(first)).toEqual([['reverted', iso(first.at + HOUR)]]);
    expect(hookEnds(first)).toEqual([['reverted', 'firing', '0001-01-01T00:00:00Z']]);
    // The tracker stamps resolvedAt when it tells the finding (first.at); the drift was over by seenAt.
    expect(resolve.resolved[0]?.resolvedAt).toBe(first.at);
    expect(resolve.resolvedAt).toBe(seenAt);
    expect(amEnds(resolve)).toEqual([['reverted', iso(seenAt)]]);
    expect(hookEnds(resolve)).toEqual([['reverted', 'resolved', iso(seenAt)]]);
  });

  it('a Modified finding that turned Corrected ends when the Corrected report came', () => {
    const opened = applyAndTell(null, paymentsSignal([makeFinding('edited')], 'partial', T0), T0, T0 + 10_000);
    expect(opened.told.map((n) => n.reason)).toEqual(['first']);
    // The revert is reported a minute later: the all-clear comes resolve_wait after it (not at the
    // repeat, 4 h on), and nothing else is told.
    const revertedAt = T0 + 60_000;
    const reverted = applyAndTell(
      opened.state,
      paymentsSignal([makeFinding('edited', { state: 'Corrected', observedAt: revertedAt })], 'partial', revertedAt),
      revertedAt,
      T0 + 5 * HOUR,
    );
    expect(reverted.told.map((n) => [n.reason, n.at])).toEqual([['resolved', revertedAt + 30_000]]);
    const [resolve] = reverted.told as [Notification];
    expect(resolve.resolved[0]).toMatchObject({ state: 'Corrected', resolvedAt: revertedAt + 30_000 });
    expect(resolve.resolvedAt).toBe(revertedAt);
    expect(amEnds(resolve)).toEqual([['edited', iso(revertedAt)]]);
    expect(hookEnds(resolve)).toEqual([['edited', 'resolved', iso(revertedAt)]]);
  });

  it('a finding a snapshot no longer reports ends when that snapshot was applied, in a resolve and beside firing findings', () => {
    const opened = applyAndTell(null, paymentsSignal([makeFinding('a'), makeFinding('b'), makeFinding('c')], 'snapshot', T0), T0, T0 + 10_000);
    expect(opened.told.map((n) => n.reason)).toEqual(['first']);
    // b and c leave at T0+1m: told at the group_interval tick (T0+10s+5m), a still firing.
    const leftAt = T0 + 60_000;
    const some = applyAndTell(opened.state, paymentsSignal([makeFinding('a')], 'snapshot', leftAt), leftAt, T0 + 10_000 + 300_000);
    const [partial] = some.told as [Notification];
    expect(partial).toMatchObject({ reason: 'some-resolved', at: T0 + 10_000 + 300_000 });
    expect(amEnds(partial)).toEqual([
      ['a', iso(partial.at + HOUR)],
      ['b', iso(leftAt)],
      ['c', iso(leftAt)],
    ]);
    expect(hookEnds(partial)).toEqual([
      ['a', 'firing', '0001-01-01T00:00:00Z'],
      ['b', 'resolved', iso(leftAt)],
      ['c', 'resolved', iso(leftAt)],
    ]);
    // a leaves at T0+6m: the all-clear comes resolve_wait later and ends a at T0+6m.
    const goneAt = T0 + 360_000;
    const all = applyAndTell(some.state, paymentsSignal([], 'snapshot', goneAt), goneAt, T0 + HOUR);
    const [resolve] = all.told as [Notification];
    expect(resolve).toMatchObject({ reason: 'resolved', at: goneAt + 30_000 });
    expect(amEnds(resolve)).toEqual([['a', iso(goneAt)]]);
    expect(hookEnds(resolve)).toEqual([['a', 'resolved', iso(goneAt)]]);
  });
});

describe('findingEndedAt', () => {
  const at = T0 + 60_000;
  it.each<[string, Parameters<typeof makeTrackedFinding>[1], number]>([
    ['resolved: its resolvedAt', { status: 'resolved', lastSeen: T0 + 1_000, resolvedAt: T0 + 30_000 }, T0 + 30_000],
    ['no resolvedAt (an older version): the notification time', { status: 'resolved', lastSeen: T0 + 1_000 }, at],
    ['never after the notification time', { status: 'resolved', resolvedAt: at + 5_000 }, at],
    [
      'Corrected: when last reported, before it was told',
      { state: 'Corrected', status: 'resolved', lastSeen: T0 + 1_000, resolvedAt: T0 + 30_000 },
      T0 + 1_000,
    ],
    ['Corrected without resolvedAt: when last reported', { state: 'Corrected', status: 'resolved', lastSeen: T0 + 1_000 }, T0 + 1_000],
  ])('%s', (_name, over, expected) => {
    expect(findingEndedAt(makeTrackedFinding('x', over), at)).toBe(expected);
  });
});
