import { describe, expect, it } from 'vitest';
import { type SlackButtonSettings, slackButtonsOf, syncReceiverFor } from '../../../src/deliver/slack/buttons.ts';
import { loadPolicyText } from '../../../src/config/load.ts';
import type { LoadedPolicy } from '../../../src/config/load.ts';
import type { Notification } from '../../../src/model/alert-group.ts';
import { makeNotification, makeTrackedFinding } from '../../support/notifications.ts';

// Issue #19 item 4: a button is drawn only where its click can work.

const SLACK = `  - name: chat
    slack: { channel: "#drift" }`;
const ARGO_SYNC = `  - name: fix
    remediate: { action: argocd-sync, argocd: { url: "https://argocd.example.com", token_env: ARGOCD_TOKEN } }`;

function policy(receivers: string, route = 'route: { receiver: chat }'): LoadedPolicy {
  const result = loadPolicyText(`receivers:\n${receivers}\n${route}\n`, 'policy.yaml');
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.policy;
}

function buttons(p: LoadedPolicy, over: Partial<SlackButtonSettings> = {}, n: Notification = makeNotification()): string[] {
  const of = slackButtonsOf({ interactive: true, allowedUsers: 'U0123ABCD', route: p.classify.route, receivers: p.receivers, ...over });
  return [...of(n)].sort();
}

describe('which buttons a message carries', () => {
  const withSync = policy(`${SLACK}\n${ARGO_SYNC}`);
  const noSync = policy(SLACK);

  it('all three with the signing secret, someone allowed and a remediate receiver for the owner', () => {
    expect(buttons(withSync)).toEqual(['acknowledge', 'silence', 'sync']);
  });

  it('none without SLACK_SIGNING_SECRET (the endpoint is a 404), whatever else is configured', () => {
    expect(buttons(withSync, { interactive: false })).toEqual([]);
    expect(buttons(withSync, { interactive: false, allowedUsers: '*' })).toEqual([]);
  });

  it('none when nobody is allowed (no slack_actions on the route, MESHDRIFT_SLACK_ALLOWED_USERS unset or blank)', () => {
    expect(buttons(withSync, { allowedUsers: undefined })).toEqual([]);
    expect(buttons(withSync, { allowedUsers: ' , ' })).toEqual([]);
  });

  it('no Sync now without a remediate receiver that can act for the group', () => {
    expect(buttons(noSync)).toEqual(['acknowledge', 'silence']);
    // A Flux owner: an Argo CD sync receiver cannot reconcile it.
    const flux = makeNotification({
      labels: { cluster: 'prod-eu', tool: 'flux', owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'apps' }, project: '' },
    });
    expect(buttons(withSync, {}, flux)).toEqual(['acknowledge', 'silence']);
    // A remediate receiver bound to another cluster's Kubernetes API.
    const otherCluster = policy(`${SLACK}\n  - name: fix\n    remediate: { action: argocd-operation, kube: { cluster: prod-us } }`);
    expect(buttons(otherCluster)).toEqual(['acknowledge', 'silence']);
    expect(buttons(otherCluster, {}, makeNotification({ labels: { ...makeNotification().labels, cluster: 'prod-us' } }))).toEqual([
      'acknowledge',
      'silence',
      'sync',
    ]);
  });

  it('no Sync now for an owner nothing can sync (an ApplicationSet), even with a receiver', () => {
    const appSet = makeNotification({
      labels: { cluster: 'prod-eu', tool: 'argocd', owner: { kind: 'ApplicationSet', namespace: 'argocd', name: 'x' }, project: '' },
    });
    expect(buttons(withSync, {}, appSet)).toEqual(['acknowledge', 'silence']);
  });

  it("the route's slack_actions decides over the environment: its actions only, and only if it names someone", () => {
    const route = `route:
  receiver: chat
  routes:
    - name: payments
      matchers: ['project="payments"']
      receiver: chat
      slack_actions: { allowed: [S0PAYMENTS], actions: [silence] }`;
    const p = policy(`${SLACK}\n${ARGO_SYNC}`, route);
    const n = makeNotification({ labels: { ...makeNotification().labels, route: 'name:payments', receiver: 'chat' } });
    expect(buttons(p, {}, n)).toEqual(['silence']);
    expect(buttons(p, { allowedUsers: undefined }, n)).toEqual(['silence']);
    // A group of the root route: the environment's list.
    const other = makeNotification({ labels: { ...makeNotification().labels, project: 'shop', route: 'route', receiver: 'chat' } });
    expect(buttons(p, {}, other)).toEqual(['acknowledge', 'silence', 'sync']);
    expect(buttons(p, { allowedUsers: undefined }, other)).toEqual([]);
  });

  it('a resolved message has none', () => {
    const resolved = makeNotification({ status: 'resolved', reason: 'resolved', firing: [], resolved: [makeTrackedFinding('a', { status: 'resolved' })] });
    expect(buttons(withSync, {}, resolved)).toEqual([]);
  });

  it('syncReceiverFor picks the receiver whose action fits the tool and cluster', () => {
    expect(syncReceiverFor(withSync.receivers, { tool: 'argocd', cluster: 'prod-eu' })?.name).toBe('fix');
    expect(syncReceiverFor(withSync.receivers, { tool: 'flux', cluster: 'prod-eu' })).toBeUndefined();
    expect(syncReceiverFor(withSync.receivers, { tool: 'meshdrift', cluster: 'prod-eu' })).toBeUndefined();
  });
});
