import { describe, expect, it } from 'vitest';
import { notificationSchema } from '../../../src/model/alert-group.ts';
import { dataLossNotification, dataLossReceivers, dataLossText } from '../../../src/track/data-loss-notice.ts';
import type { ReceiverConfig } from '../../../src/config/policy.ts';

const loss = { at: Date.UTC(2026, 11, 4, 12), previous: 'old-epoch', epoch: 'new-epoch' };

describe('the Redis data loss notice', () => {
  it('names what re-derives the findings, or says that webhooks must be sent again', () => {
    expect(dataLossText(loss, { kube: true, argocdApi: true })).toMatch(/Kubernetes audit re-list and an immediate Argo CD API poll/);
    const webhooksOnly = dataLossText(loss, { kube: false, argocdApi: false });
    expect(webhooksOnly).toMatch(/only takes webhooks here: findings come back as Argo CD and Flux send them again/);
    expect(webhooksOnly).toMatch(/Silences set before are gone/);
    expect(webhooksOnly).toMatch(/appendonly yes/);
  });

  it('goes to the root route receiver and every console receiver, never a remediation receiver', () => {
    const receivers = [
      { name: 'team-slack', slack: { channel: '#x', token_env: 'T' } },
      { name: 'ops-console', console: {} },
      { name: 'fixer', remediate: { action: 'argocd-sync' } },
    ] as unknown as ReceiverConfig[];
    const policy = (root: string) => ({ receivers, classify: { route: { receiver: root } } }) as unknown as Parameters<typeof dataLossReceivers>[0];
    expect(dataLossReceivers(policy('team-slack'))).toEqual(['ops-console', 'team-slack']);
    expect(dataLossReceivers(policy('fixer'))).toEqual(['ops-console']);
  });

  it('is a valid notification, one group per new epoch, routed to the receivers it names', () => {
    const n = dataLossNotification(loss, { cluster: 'prod', receivers: ['a', 'b'], sources: { kube: false, argocdApi: false } });
    expect(notificationSchema.safeParse(n).success).toBe(true);
    expect(n.groupKey).toBe('redis-data-loss-new-epoch');
    expect(n.firing[0]?.receivers).toEqual(['a', 'b']);
    expect(n.labels.tool).toBe('meshdrift');
  });
});
