import type { LoadedPolicy } from '../config/load.ts';
import { receiverTypeOf } from '../config/policy.ts';
import type { Notification } from '../model/alert-group.ts';
import type { DataLoss } from './redis-epoch.ts';

/**
 * The one notification that says Redis lost meshdrift's state (issue #12 item 9). It is not a drift
 * finding of any owner, so it does not go through the tracker (which has just been emptied): it is
 * queued straight to the policy's default receiver (the root route's) and to every console
 * receiver, once per new epoch (see redis-epoch.ts). Its one "finding" is a pseudo-resource
 * `meshdrift.io/Redis` of tool `meshdrift`, like the reachability alerts, never remediated.
 * meshdrift never resolves it: the operator has things to check (see the text).
 */

/** What re-derives findings after the loss, for the text. */
export interface DataLossSources {
  /** Kubernetes watches and the audit re-list are configured (MESHDRIFT_CLUSTERS). */
  kube: boolean;
  /** Argo CD API polling is configured (ARGOCD_URL + ARGOCD_TOKEN). */
  argocdApi: boolean;
}

export function dataLossText(loss: Pick<DataLoss, 'at' | 'previous'>, sources: DataLossSources): string {
  const from = [sources.kube ? 'an immediate Kubernetes audit re-list' : undefined, sources.argocdApi ? 'an immediate Argo CD API poll' : undefined].filter(
    (s) => s !== undefined,
  );
  const rederive =
    from.length > 0
      ? `Findings are being re-derived now from ${from.join(' and ')}; drift only webhooks report comes back as Argo CD and Flux send it again.`
      : 'meshdrift only takes webhooks here: findings come back as Argo CD and Flux send them again (at their next change or resync).';
  return [
    `Redis lost meshdrift's state (found ${new Date(loss.at).toISOString()}; Redis restarted empty, without persistence?).`,
    rederive,
    'Silences set before are gone: set them again.',
    'Alerts open in Slack or PagerDuty whose drift ended while the state was lost are not resolved by meshdrift: check and close them by hand.',
    'Notifications queued but not sent before the loss are lost.',
    'Run Redis with AOF (appendonly yes) so a restart keeps the state.',
  ].join(' ');
}

/** The receivers the notice goes to: the root route's, and every console receiver (never a remediation one). */
export function dataLossReceivers(policy: Pick<LoadedPolicy, 'receivers' | 'classify'>): string[] {
  const names = new Set<string>();
  const root = policy.classify.route.receiver;
  const byName = new Map(policy.receivers.map((r) => [r.name, r]));
  const rootConfig = byName.get(root);
  if (root !== '' && (rootConfig === undefined || receiverTypeOf(rootConfig) !== 'remediate')) names.add(root);
  for (const r of policy.receivers) if (receiverTypeOf(r) === 'console') names.add(r.name);
  return [...names].sort();
}

export function dataLossNotification(
  loss: Pick<DataLoss, 'at' | 'previous' | 'epoch'>,
  opts: { cluster: string; receivers: readonly string[]; sources: DataLossSources },
): Notification {
  const groupKey = `redis-data-loss-${loss.epoch}`;
  const owner = { kind: 'Redis', namespace: '', name: 'meshdrift-state' };
  return {
    groupKey,
    seq: 1,
    reason: 'first',
    status: 'firing',
    labels: { cluster: opts.cluster, tool: 'meshdrift', owner, project: '' },
    severity: 'high',
    firing: [
      {
        fingerprint: groupKey,
        groupKey,
        cluster: opts.cluster,
        tool: 'meshdrift',
        owner,
        project: '',
        resource: { group: 'meshdrift.io', kind: 'Redis', namespace: '', name: 'meshdrift-state' },
        // The closest drift state: what meshdrift knew can no longer be read.
        state: 'Unreachable',
        category: 'observability',
        mesh: 'none',
        severity: 'high',
        receivers: [...opts.receivers],
        reasons: ['meshdrift: Redis lost its state (epoch key gone or replaced)'],
        detail: dataLossText(loss, opts.sources),
        observedAt: loss.at,
        firstSeen: loss.at,
        lastSeen: loss.at,
        status: 'firing',
      },
    ],
    resolved: [],
    at: loss.at,
    firstSeen: loss.at,
  };
}
