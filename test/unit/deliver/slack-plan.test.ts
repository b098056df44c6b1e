import { describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/model/alert-group.ts';
import type { SlackMessageRef } from '../../../src/deliver/slack/message-store.ts';
import { planSlackDelivery, slackCallsOf, type SlackDeliveryPlan } from '../../../src/deliver/slack/plan.ts';

const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);

function notification(seq: number, reason: Notification['reason']): Notification {
  return {
    groupKey: 'g1',
    seq,
    reason,
    status: reason === 'resolved' ? 'resolved' : 'firing',
    labels: { cluster: 'prod-eu', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' }, project: 'payments' },
    severity: 'high',
    firing: [],
    resolved: [],
    at: T0,
    firstSeen: T0,
  };
}

const ref = (seq: number, repliedSeq?: number): SlackMessageRef => ({
  channel: 'C1',
  ts: '1.000100',
  seq,
  ...(repliedSeq === undefined ? {} : { repliedSeq }),
});

describe('planSlackDelivery', () => {
  it.each<[string, SlackMessageRef | null, Notification, SlackDeliveryPlan['action'], number]>([
    ['no message yet: post', null, notification(1, 'first'), 'post', 1],
    ['no message (expired or lost) for a later notification: post', null, notification(4, 'new-findings'), 'post', 1],
    ['a later notification: update, then reply', ref(1, 1), notification(2, 'new-findings'), 'update', 2],
    ['a resolve: update, then reply', ref(2, 2), notification(3, 'resolved'), 'update', 2],
    ['a later notification over a legacy ref: update, then reply', ref(1), notification(2, 'repeat'), 'update', 2],
    ['a new episode: a new message', ref(3, 3), notification(4, 'first'), 'post', 1],
    ['the same notification again, fully delivered: nothing', ref(2, 2), notification(2, 'new-findings'), 'none', 0],
    ['the same notification, its reply owed: the reply alone', ref(2, 1), notification(2, 'new-findings'), 'reply', 1],
    ['a legacy ref at the same seq: nothing owed', ref(2), notification(2, 'new-findings'), 'none', 0],
    ['an older notification: nothing', ref(3, 3), notification(2, 'new-findings'), 'none', 0],
    ['an older notification while a reply is owed: nothing (the newer one tells it)', ref(3, 1), notification(2, 'new-findings'), 'none', 0],
    ['a retried first notification: nothing', ref(1, 1), notification(1, 'first'), 'none', 0],
  ])('%s', (_name, stored, n, action, calls) => {
    const plan = planSlackDelivery(stored, n, { threads: true });
    expect(plan.action).toBe(action);
    expect(slackCallsOf(plan)).toBe(calls);
  });

  it('with threads off, updates without a reply and never owes one', () => {
    expect(planSlackDelivery(ref(1, 1), notification(2, 'new-findings'), { threads: false })).toEqual({ action: 'update', ref: ref(1, 1), reply: false });
    expect(planSlackDelivery(ref(2, 1), notification(2, 'new-findings'), { threads: false })).toEqual({ action: 'none' });
  });

  it('hands the stored ref to the steps that need it', () => {
    expect(planSlackDelivery(ref(1, 1), notification(2, 'new-findings'), { threads: true })).toEqual({ action: 'update', ref: ref(1, 1), reply: true });
    expect(planSlackDelivery(ref(2, 1), notification(2, 'new-findings'), { threads: true })).toEqual({ action: 'reply', ref: ref(2, 1) });
  });
});
